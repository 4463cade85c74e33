"""Cycle count sheets are read by a worker, never in the request (a sheet can take seconds, and a
hostile one is refused by core.sheets before it is unpacked): the desk stores the file in the
default storage as a CycleCountUpload and queues it; the worker reads it into a draft count or
refuses it, naming every bad row; a sweeper hands sheets whose task was lost to a worker again
(core.handoff). Lock order: the upload row, then whatever cycle_count_upload takes.
"""

import logging
import uuid
from functools import partial
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import handoff
from core.errors import DomainError
from core.sheets import SheetLimits
from core.sheets.reader import check_kind
from core.transitions import require_perm
from inventory.cycle_counts.services import cycle_count_upload
from inventory.cycle_counts.sheet import EXTENSIONS, CycleCountFileError
from inventory.models import CycleCountUpload, CycleCountUploadState, Warehouse

logger = logging.getLogger(__name__)

DATABASE_REFUSED = gettext_lazy("The database refused to store this sheet's rows; nothing was stored.")


def cycle_count_upload_queue(
    *, warehouse: Warehouse, file_bytes: bytes, file_name: str, actor, reference: str = "", note: str = ""
) -> CycleCountUpload:
    """Store the sheet and queue it for a worker. Only what needs no parsing is checked here:
    the permission, the file type, that it is not empty and not over the size limit."""
    require_perm(actor, "inventory.add_cyclecount", _("You are not allowed to upload cycle counts."))
    name = PurePosixPath(file_name.replace("\\", "/")).name[:255] or "upload"
    suffix = PurePosixPath(name.lower()).suffix
    check_kind(file_bytes, suffix, EXTENSIONS, SheetLimits.from_settings())
    from inventory.tasks import read_cycle_count_upload

    with transaction.atomic():
        upload = CycleCountUpload(
            warehouse=warehouse, reference=reference, note=note, file_name=name, created_by=actor
        )
        upload.file.save(f"{uuid.uuid4().hex}{suffix}", ContentFile(file_bytes), save=False)
        upload.save()
        handoff.publish_on_commit(read_cycle_count_upload, upload.pk)
    return upload


def cycle_count_upload_read(*, upload_id: int) -> CycleCountUpload:
    """The worker's part: read the stored sheet into a draft count, or refuse it. A second
    delivery finds the upload read and does nothing. The start is counted first, on its own (the
    sweeper gives up on sheets whose reading keeps dying, never on unread ones)."""
    queued = CycleCountUpload.objects.filter(pk=upload_id, state=CycleCountUploadState.QUEUED)
    if not handoff.record_start(queued, started="attempts"):
        return CycleCountUpload.objects.get(pk=upload_id)
    with transaction.atomic():
        upload = (
            CycleCountUpload.objects.select_for_update(of=("self",))
            .select_related("warehouse", "created_by")
            .get(pk=upload_id)
        )
        if upload.state != CycleCountUploadState.QUEUED:
            return upload
        try:
            # a refused sheet leaves nothing of its count behind, nor an upload the database refused
            with transaction.atomic():
                upload.cycle_count = _read(upload)
                upload.state = CycleCountUploadState.READ
                _finish(upload)
        except CycleCountFileError as exc:
            _refuse(upload, exc.message, [list(error) for error in exc.errors])
        except DomainError as exc:
            _refuse(upload, exc.message)
        except handoff.INFRASTRUCTURE_ERRORS:
            raise  # not the sheet's fault: retried, then handed over again by the sweeper
        except DatabaseError:
            logger.exception("cycle count upload %s: the database refused its rows", upload.pk)
            _refuse(upload, DATABASE_REFUSED)
        except Exception:
            logger.exception("cycle count upload %s could not be read", upload.pk)
            _refuse(
                upload, _("The sheet could not be read because of an internal error; nothing was stored.")
            )
    return upload


def _read(upload: CycleCountUpload):
    try:
        with upload.file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise CycleCountFileError(_("The uploaded file is gone; upload it again.")) from exc
    return cycle_count_upload(
        warehouse=upload.warehouse,
        file_bytes=data,
        file_name=upload.file_name,
        actor=upload.created_by,
        reference=upload.reference,
        note=upload.note,
    )


def _refuse(upload: CycleCountUpload, message: str, errors: list | None = None) -> None:
    try:
        with transaction.atomic():
            _refused(upload, message, errors or [])
    except handoff.INFRASTRUCTURE_ERRORS:
        raise
    except DatabaseError:  # the errors quote a cell the database cannot store: refuse without them
        logger.exception("cycle count upload %s: its refusal could not be stored", upload.pk)
        _refused(upload, DATABASE_REFUSED, [])


def _refused(upload: CycleCountUpload, message: str, errors: list) -> None:
    upload.refresh_from_db()  # what a failed attempt set on it (its count) went with its savepoint
    upload.state = CycleCountUploadState.REFUSED
    upload.message = message
    upload.errors = errors
    _finish(upload)


def _finish(upload: CycleCountUpload) -> None:
    """Save the outcome; the stored file goes once it is committed (its rows live on as lines)."""
    stored = upload.file.name
    upload.finished_at = timezone.now()
    upload.file = ""
    upload.save()
    if stored:
        transaction.on_commit(partial(upload.file.storage.delete, stored))


def cycle_count_uploads_sweep(*, now=None, limit: int = 100) -> handoff.Swept:
    """Hand every sheet still waiting after the grace period to a worker again; once reading it
    started HANDOFF_MAX_ATTEMPTS times without finishing it is refused with a message saying so.
    A sheet no worker started waits."""
    from inventory.tasks import read_cycle_count_upload

    now = now or timezone.now()
    with transaction.atomic():
        waiting = CycleCountUpload.objects.filter(state=CycleCountUploadState.QUEUED).filter(
            handoff.waiting_since("created_at", now)
        )
        swept = handoff.claim_due(waiting, started="attempts", now=now, limit=limit)
        if swept.given_up:
            given_up = CycleCountUpload.objects.filter(pk__in=swept.given_up)
            for stored in given_up.exclude(file="").values_list("file", flat=True):
                transaction.on_commit(partial(CycleCountUpload.file.field.storage.delete, stored))
            given_up.update(
                state=CycleCountUploadState.REFUSED,
                file="",
                finished_at=now,
                message=_(
                    "Reading this sheet started %(n)s times and never finished; nothing was stored. "
                    "Upload it again."
                )
                % {"n": settings.HANDOFF_MAX_ATTEMPTS},
            )
            logger.warning("cycle count uploads %s given up", swept.given_up)
        for upload_id in swept.handed_over:
            handoff.publish_on_commit(read_cycle_count_upload, upload_id)
    return swept
