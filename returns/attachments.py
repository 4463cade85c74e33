"""Photos and documents that come with a return request: JPEG, PNG, WebP or PDF, checked by
their first bytes as well as their name (a renamed executable is not a photo), and capped in
size and number (settings.RETURN_ATTACHMENT_MAX_MB / RETURN_ATTACHMENT_MAX_COUNT). Images are
read by OCR once the RMA is committed (returns.evidence)."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.transitions import Actor
from returns import evidence, tasks
from returns.models import AttachmentReading, ReturnAttachment, ReturnRequest

# extension → content type, and the signatures a file of that type starts with.
TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "pdf": "application/pdf",
}


def sniff(head: bytes) -> str | None:
    """The content type the file's first bytes show, or None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


@dataclass(frozen=True)
class CheckedFile:
    upload: object  # a django UploadedFile
    name: str
    content_type: str
    size: int


def check_attachments(files) -> list[CheckedFile]:
    """Validate every upload before anything is written; the first bad file refuses them all."""
    files = list(files or [])
    if len(files) > settings.RETURN_ATTACHMENT_MAX_COUNT:
        raise DomainError(
            _("At most %(n)s files.") % {"n": settings.RETURN_ATTACHMENT_MAX_COUNT}, field="attachments"
        )
    max_bytes = int(settings.RETURN_ATTACHMENT_MAX_MB * 1024 * 1024)
    checked = []
    for upload in files:
        name = (getattr(upload, "name", "") or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:255]
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in TYPES:
            raise DomainError(
                _("%(name)s: only JPG, PNG, WebP and PDF files are accepted.") % {"name": name or "?"},
                field="attachments",
            )
        size = upload.size or 0
        if size == 0:
            raise DomainError(_("%(name)s is empty.") % {"name": name}, field="attachments")
        if size > max_bytes:
            raise DomainError(
                _("%(name)s is larger than %(mb)s MB.")
                % {"name": name, "mb": settings.RETURN_ATTACHMENT_MAX_MB},
                field="attachments",
            )
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
        if sniff(head) != TYPES[extension]:
            raise DomainError(
                _("%(name)s is not the %(type)s file its name says.")
                % {"name": name, "type": extension.upper()},
                field="attachments",
            )
        checked.append(CheckedFile(upload=upload, name=name, content_type=TYPES[extension], size=size))
    return checked


def attach_files(*, rma: ReturnRequest, files: list[CheckedFile], actor: Actor) -> list[ReturnAttachment]:
    """Store checked files on the RMA, inside the caller's transaction. Each image gets a pending
    reading and its OCR task once the transaction commits; the task's queue being down does not
    undo or fail the RMA (robust: logged, and the reading stays "reading…")."""
    attachments = []
    for checked in files:
        attachment = ReturnAttachment.objects.create(
            rma=rma,
            file=checked.upload,
            original_name=checked.name,
            content_type=checked.content_type,
            size=checked.size,
            uploaded_by=actor,
        )
        attachments.append(attachment)
        if evidence.wants_reading(attachment):
            AttachmentReading.objects.create(attachment=attachment)
            transaction.on_commit(_read_later(attachment.pk), robust=True)
    return attachments


def _read_later(attachment_id: int):
    # A named function, not functools.partial: Django's robust on_commit logs a failing
    # callback by its __qualname__, which a partial does not have (the log call itself fails).
    def read_attachment() -> None:
        tasks.read_attachment.delay(attachment_id)

    return read_attachment
