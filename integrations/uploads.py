"""Order uploads between their steps (integrations.order_upload does the reading and checking):
the request stores the file (default storage) as an OrderUpload and queues it; a worker reads
it into rows and a preview; its uploader confirms, and the rows are checked again and imported,
all or nothing, once. A sweeper hands files whose task was lost to a worker again
(core.handoff) and removes uploads older than a day (they hold customers' addresses).
Lock order: the upload row, then what order_ingest_batch takes.
"""

import logging
import uuid
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import handoff
from core.errors import DomainError, NotPermitted
from core.sheets import SheetLimits
from core.sheets.reader import check_kind
from core.transient import run_again_when_transient
from integrations.models import OrderUpload, OrderUploadState
from integrations.order_upload import (
    EXTENSIONS,
    OrderUploadError,
    UploadPreview,
    order_upload_import,
    order_upload_preview,
    order_upload_rows,
)
from orders.models import Order

logger = logging.getLogger(__name__)

KEPT_FOR = timedelta(days=1)
DATABASE_REFUSED = gettext_lazy("The database refused to store this file's rows; nothing was imported.")


def _require(actor) -> None:
    if not actor.has_perm("orders.add_order"):
        raise NotPermitted(_("You are not allowed to create orders."))


def order_upload_queue(*, file_bytes: bytes, file_name: str, actor) -> OrderUpload:
    """Store the file and queue it for a worker. Only what needs no parsing is checked here:
    the permission, the file type, that it is not empty and not over the size limit."""
    _require(actor)
    name = PurePosixPath(file_name.replace("\\", "/")).name[:255] or "upload"
    suffix = PurePosixPath(name.lower()).suffix
    try:
        check_kind(file_bytes, suffix, EXTENSIONS, SheetLimits.from_settings())
    except DomainError as exc:
        raise OrderUploadError(exc.message) from exc
    from integrations.tasks import read_order_upload

    with transaction.atomic():
        upload = OrderUpload(file_name=name, created_by=actor)
        upload.file.save(f"{uuid.uuid4().hex}{suffix}", ContentFile(file_bytes), save=False)
        upload.save()
        handoff.publish_on_commit(read_order_upload, upload.pk)
    return upload


def order_upload_read(*, upload_id: int) -> OrderUpload:
    """The worker's part: read the stored file and check its rows into a preview, or refuse the
    file. A second delivery finds it read and does nothing. The start is counted first, on its
    own (the sweeper gives up on files whose reading keeps dying, never on unread ones)."""
    queued = OrderUpload.objects.filter(pk=upload_id, state=OrderUploadState.QUEUED)
    if not handoff.record_start(queued, started="attempts"):
        return OrderUpload.objects.get(pk=upload_id)
    with transaction.atomic():
        upload = OrderUpload.objects.select_for_update().get(pk=upload_id)
        if upload.state != OrderUploadState.QUEUED:
            return upload
        stored = upload.file.name
        try:
            # the preview is saved inside the savepoint: rows the database refuses refuse the file
            with transaction.atomic():
                preview = order_upload_preview(rows=_rows(upload))
                for name, value in preview.stored().items():
                    setattr(upload, name, value)
                upload.state = OrderUploadState.READY
                _save_read(upload)
        except OrderUploadError as exc:
            _refuse(upload, exc.message)
        except handoff.INFRASTRUCTURE_ERRORS:
            raise  # not the file's fault: retried, then handed over again by the sweeper
        except DatabaseError:
            logger.exception("order upload %s: the database refused its rows", upload.pk)
            _refuse(upload, DATABASE_REFUSED)
        except Exception:
            logger.exception("order upload %s could not be read", upload.pk)
            _refuse(
                upload, _("The file could not be read because of an internal error; nothing was imported.")
            )
        if stored:  # the rows are kept on the upload: the file itself is no longer needed
            transaction.on_commit(partial(upload.file.storage.delete, stored))
    return upload


def _save_read(upload: OrderUpload) -> None:
    upload.file, upload.read_at = "", timezone.now()
    upload.save()


def _refuse(upload: OrderUpload, message: str) -> None:
    try:
        with transaction.atomic():
            _refused(upload, message)
    except handoff.INFRASTRUCTURE_ERRORS:
        raise
    except DatabaseError:  # the message quotes a cell the database cannot store
        logger.exception("order upload %s: its refusal could not be stored", upload.pk)
        _refused(upload, DATABASE_REFUSED)


def _refused(upload: OrderUpload, message: str) -> None:
    upload.refresh_from_db()  # what a failed attempt set on it went with its savepoint
    upload.state, upload.message = OrderUploadState.REFUSED, message
    _save_read(upload)


def _rows(upload: OrderUpload) -> list[list]:
    try:
        with upload.file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise OrderUploadError(_("The uploaded file is gone; upload it again.")) from exc
    return order_upload_rows(file_bytes=data, file_name=upload.file_name)


def order_upload_get(*, token, actor) -> OrderUpload:
    """The actor's own upload; anyone else's, or an expired one, is unknown."""
    upload = OrderUpload.objects.filter(token=token, created_by=actor).first()
    if upload is None:
        raise OrderUploadError(_("This upload is unknown or has expired; upload the file again."))
    return upload


def order_upload_stored_preview(upload: OrderUpload) -> UploadPreview:
    """The preview the worker made, with "imported before" looked up again."""
    return UploadPreview.from_stored(
        headers=upload.headers, rows=upload.rows, errors=upload.errors, orders=upload.orders
    )


def order_upload_confirm(*, upload: OrderUpload, actor) -> list[tuple[Order, bool]]:
    """Import the upload's orders once: the rows are checked again (stock, channels and SKUs
    may have changed since the preview) and imported all or nothing. A transaction PostgreSQL
    aborted for a deadlock with another writer (orders of the file arriving from their platform at
    the same moment) runs again whole (core.transient)."""
    _require(actor)
    return run_again_when_transient(lambda: _confirm_once(upload, actor))


def _confirm_once(upload: OrderUpload, actor) -> list[tuple[Order, bool]]:
    with transaction.atomic():
        upload = OrderUpload.objects.select_for_update().get(pk=upload.pk, created_by=actor)
        if upload.state == OrderUploadState.IMPORTED:
            raise OrderUploadError(_("This file was imported already."))
        if upload.state != OrderUploadState.READY:
            raise OrderUploadError(
                _("This file cannot be imported: %(state)s.") % {"state": upload.get_state_display()}
            )
        results = order_upload_import(rows=[upload.headers, *upload.rows], actor=actor)
        upload.state, upload.imported_at = OrderUploadState.IMPORTED, timezone.now()
        upload.save(update_fields=["state", "imported_at"])
    return results


def order_uploads_sweep(*, now=None, limit: int = 100) -> handoff.Swept:
    """Hand every file still waiting after the grace period to a worker again (refusing it once
    reading it started HANDOFF_MAX_ATTEMPTS times without finishing; a file no worker started
    waits), and delete uploads older than KEPT_FOR with their files."""
    from integrations.tasks import read_order_upload

    now = now or timezone.now()
    storage = OrderUpload.file.field.storage
    with transaction.atomic():
        waiting = OrderUpload.objects.filter(state=OrderUploadState.QUEUED).filter(
            handoff.waiting_since("created_at", now)
        )
        swept = handoff.claim_due(waiting, started="attempts", now=now, limit=limit)
        if swept.given_up:
            OrderUpload.objects.filter(pk__in=swept.given_up).update(
                state=OrderUploadState.REFUSED,
                read_at=now,
                message=_(
                    "Reading this file started %(n)s times and never finished; nothing was imported. "
                    "Upload it again."
                )
                % {"n": settings.HANDOFF_MAX_ATTEMPTS},
            )
            logger.warning("order uploads %s given up", swept.given_up)
        for upload_id in swept.handed_over:
            handoff.publish_on_commit(read_order_upload, upload_id)
        old = OrderUpload.objects.filter(created_at__lt=now - KEPT_FOR).exclude(state=OrderUploadState.QUEUED)
        old = old.select_for_update(skip_locked=True).order_by("pk")[:limit]
        expired = list(old.values_list("pk", "file"))
        for _pk, stored in expired:
            if stored:
                transaction.on_commit(partial(storage.delete, stored))
        OrderUpload.objects.filter(pk__in=[pk for pk, _stored in expired]).delete()
    return swept
