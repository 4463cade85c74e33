import posixpath

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404

from core.storage import DatabaseStorage


@login_required
def stored_file(request, name: str):
    """A file kept in the database, as the admin links it (DatabaseStorage.url). Screens serve
    their own files with their own permission (a return's attachments); this is superusers only."""
    if not request.user.is_superuser:
        raise PermissionDenied
    try:
        handle = DatabaseStorage().open(name)
    except FileNotFoundError as exc:
        raise Http404(name) from exc
    return FileResponse(handle, as_attachment=True, filename=posixpath.basename(name))
