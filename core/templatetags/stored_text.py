from django import template

from core import stored_text

register = template.Library()


@register.filter
def in_reader_language(text: str) -> str:
    """A sentence the system stored (a timeline or hold reason), said in the reader's language."""
    return stored_text.in_reader_language(text)
