"""How desk views report the outcome of a form post: service refusals and form errors become
messages on the page the user returns to."""

from django.contrib import messages

from core.errors import DomainError


def form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        messages.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))


def run_service(request, call, success: str) -> bool:
    """Call the service; a DomainError becomes an error message instead of a crash."""
    try:
        call()
    except DomainError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True
