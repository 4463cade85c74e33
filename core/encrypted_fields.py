"""Model fields whose column holds a Fernet token (core.encryption) while Python sees plaintext.

An empty value is stored as "" so "has this channel any credentials?" stays a query
(`.exclude(api_credentials={})`); a non-empty value cannot be compared in SQL (every token differs)
and such a lookup raises. A column still holding plaintext from before encryption is read as it
is, until the data migration or `rotate_encryption_keys` writes it encrypted.
"""

import json

from django import forms
from django.core import exceptions
from django.core.validators import MaxLengthValidator
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from core import encryption


class _Encrypted:
    """What the two fields share; `_dump` / `_load` turn the Python value into text and back."""

    def get_internal_type(self):
        return "TextField"  # a token is longer than any max_length the plaintext had

    def _is_empty(self, value) -> bool:
        return value is None or value == "" or value == {} or value == []

    def _empty(self):
        return self.get_default()

    def _what(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model else self.name

    def _from_stored(self, value):
        if value is None or value == "":
            return self._empty()
        if encryption.is_token(value):
            plain = self._load(encryption.decrypt(value, what=self._what()))
        else:
            plain = self._load_legacy(value)
        return self._empty() if self._is_empty(plain) else plain

    def from_db_value(self, value, expression, connection):
        return self._from_stored(value)

    def get_prep_value(self, value):
        # Only lookups reach here (saving goes through get_db_prep_value): "" is comparable.
        if self._is_empty(value):
            return ""
        raise exceptions.FieldError(f"{self._what()} is encrypted: only an empty value can be looked up.")

    def get_db_prep_value(self, value, connection, prepared=False):
        if prepared:
            return value
        if self._is_empty(value):
            return ""
        return encryption.encrypt(self._dump(value))

    def value_to_string(self, obj):
        # Fixtures (dumpdata) carry the token, never the secret; to_python reads it back.
        return self.get_db_prep_value(self.value_from_object(obj), connection=None)


class EncryptedTextField(_Encrypted, models.TextField):
    """A secret string (webhook secret, WMS secret). `max_length` is validated on the plaintext."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(MaxLengthValidator(self.max_length))

    def get_default(self):
        default = super().get_default()
        return "" if default is None else default

    def to_python(self, value):
        if isinstance(value, str) and encryption.is_token(value):
            return self._from_stored(value)
        return super().to_python(value)

    def _dump(self, value) -> str:
        return str(value)

    def _load(self, text: str) -> str:
        return text

    def _load_legacy(self, value: str) -> str:
        return value

    def formfield(self, **kwargs):
        return super().formfield(**{"widget": forms.PasswordInput(render_value=False), **kwargs})


class EncryptedJSONField(_Encrypted, models.TextField):
    """A secret JSON value (API credentials, a carrier account), usually an object."""

    empty_strings_allowed = False

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if isinstance(value, str) and encryption.is_token(value):
            return self._from_stored(value)
        return value

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        try:
            json.dumps(value)
        except TypeError as exc:
            raise exceptions.ValidationError(_("Value must be valid JSON."), code="invalid") from exc

    def _dump(self, value) -> str:
        return json.dumps(value, separators=(",", ":"))

    def _load(self, text: str):
        return json.loads(text)

    def _load_legacy(self, value: str):
        # The column was jsonb before it held tokens: its text is the JSON itself.
        try:
            return json.loads(value)
        except ValueError:
            raise encryption.UndecryptableSecret(
                f"{self._what()} holds neither an encrypted value nor JSON: it cannot be read."
            ) from None

    def formfield(self, **kwargs):
        return forms.JSONField(**{"required": not self.blank, "label": self.verbose_name, **kwargs})


# --- keeping every value encrypted with the current first key ----------------------------------


def encrypted_field_names(model) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if isinstance(field, _Encrypted)]


def reencrypt(model, using: str | None = None) -> int:
    """Write every encrypted value of `model` again: encrypted with the first key, legacy
    plaintext included (and a legacy empty "{}" as ""). One transaction; rows locked in id order,
    then one bulk UPDATE per batch. Returns how many rows were written."""
    names = encrypted_field_names(model)
    if not names:
        return 0
    manager = model._base_manager.db_manager(using)
    with transaction.atomic(using=manager.db):
        rows = list(manager.select_for_update().only("pk", *names).order_by("pk"))
        manager.bulk_update(rows, names, batch_size=500)
    return len(rows)


def reencrypt_all(models_to_visit) -> dict[str, int]:
    """Re-encrypt every model given that has encrypted fields: {model label: rows written}."""
    return {model._meta.label: reencrypt(model) for model in models_to_visit if encrypted_field_names(model)}


def write_plaintext(model, schema_editor) -> None:
    """Undo encryption for a migration going backwards: the columns get their plaintext (JSON
    text for a JSON field, "{}" when empty) so the old column type can take them again."""
    names = encrypted_field_names(model)
    if not names:
        return
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    for row in model._base_manager.db_manager(connection.alias).only("pk", *names).order_by("pk"):
        values = []
        for field in fields:
            value = getattr(row, field.name)
            values.append(json.dumps(value) if isinstance(field, EncryptedJSONField) else value)
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*values, row.pk])
