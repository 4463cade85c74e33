"""The API's body parsers: what Django does not parse before the view, they check as they read
it — no NUL character anywhere (core.nul_characters), JSON no deeper than MAX_JSON_DEPTH."""

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from core.json_bodies import MAX_JSON_DEPTH, nesting_exceeds, too_deep_message
from core.nul_characters import nul_in_fields, nul_in_json


class JSONBodyParser(JSONParser):
    """Python's parser gives up around a thousand levels with a RecursionError (a server error),
    and anything that deep would strain every layer after it: refused, naming the body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(too_deep_message()) from exc
        if nesting_exceeds(document, MAX_JSON_DEPTH):
            raise ParseError(too_deep_message())
        refuse(nul_in_json(document))
        return document


class FormBodyParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        fields = super().parse(stream, media_type, parser_context)
        refuse(nul_in_fields(fields.lists()))
        return fields


class MultiPartBodyParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        uploads = ((name, [upload.name for upload in files]) for name, files in parsed.files.lists())
        refuse(nul_in_fields(parsed.data.lists()) or nul_in_fields(uploads))
        return parsed


def refuse(found) -> None:
    if found is not None:
        field, message = found
        raise ValidationError({field: [message]} if field else {"detail": message})
