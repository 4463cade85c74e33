"""Form-encoded payment notifications (Alipay, UnionPay): the body as the provider sent it,
decoded with the charset the form itself declares, every parameter once."""

from urllib.parse import parse_qsl


class FormError(ValueError):
    pass


def form_params(raw_body: bytes, *, charset_field: str) -> dict[str, str]:
    """The parameters of an URL-encoded body. Its charset is one of its own (ASCII) parameters —
    Alipay's `charset`, UnionPay's `encoding` — read first; every value is then decoded with it
    (UTF-8 when absent). A body that is not ASCII, cannot be decoded, or names a parameter twice
    is refused (FormError), never guessed at."""
    try:
        text = raw_body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormError("the body is not URL-encoded form data") from exc
    declared = dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1")).get(charset_field, "")
    charset = declared.strip().lower() or "utf-8"
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), encoding=charset, errors="strict"
        )
    except (ValueError, LookupError) as exc:
        raise FormError(f"the form cannot be decoded as {charset}: {exc}") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise FormError(f"{key}: given twice")
        params[key] = value
    return params
