from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def exception_handler(exc, context):
    """Domain refusals become 400/403/409 bodies that name the field when there is one."""
    if isinstance(exc, DomainError):
        key = exc.field or "detail"
        body = {key: [exc.message]} if exc.field else {"detail": exc.message}
        return Response(body, status=exc.status_code)
    if isinstance(exc, (TransitionNotAllowed, ConcurrentTransition)):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, UnsupportedMediaType):
        # Said plainly: a form post to an endpoint whose body nests lists must not look like
        # a request that merely lacked those lists.
        accepted = ", ".join(parser.media_type for parser in context["view"].get_parsers())
        message = _("This operation reads %(accepted)s bodies, not “%(sent)s”.") % {
            "accepted": accepted,
            "sent": context["request"].content_type.split(";")[0].strip(),
        }
        return Response({"detail": message}, status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    return drf_exception_handler(exc, context)
