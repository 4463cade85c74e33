"""Integration operator screens (R-X5, R-D1): the inbound message log, the failed queue, channel
status and the generic order upload. Views stay thin: read through a query or call the service →
turn a domain error into a message → redirect."""

import json
from datetime import datetime, timedelta
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.models import Channel
from core.errors import DomainError
from core.sheets import accepted_types
from integrations import models, order_upload, repull, uploads, writeback
from integrations.models import (
    REPULL_ACTIVE_STATES,
    ChannelRepull,
    InboundMessage,
    InboundStatus,
    OrderUploadState,
)
from integrations.services import inbound_message_replay
from integrations.sync_status import channel_repulls, channel_sync_states
from ops.overview import duration_text

PAGE_SIZE = 50
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NEEDS_ATTENTION = (InboundStatus.FAILED, InboundStatus.REJECTED)


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- integration log ---------------------------------------------------------------------------


class MessageFilterForm(forms.Form):
    channel = forms.ModelChoiceField(
        label=gettext_lazy("Channel"),
        queryset=Channel.objects.order_by("code"),
        to_field_name="code",
        required=False,
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        choices=[("", "—"), *InboundStatus.choices],
        required=False,
    )
    topic = forms.CharField(label=gettext_lazy("Topic"), max_length=100, required=False)
    q = forms.CharField(
        label=gettext_lazy("Order no. or delivery id"),
        max_length=255,
        required=False,
        help_text=gettext_lazy("Exact match."),
    )


def _log_rows():
    # The body can be large: a list never needs it.
    return InboundMessage.objects.select_related("channel", "order").defer("body", "headers")


@login_required
@permission_required("integrations.view_inboundmessage", raise_exception=True)
def message_list(request):
    form = MessageFilterForm(request.GET or None)
    rows = _log_rows().order_by("-received_at", "-pk")
    if form.is_valid():
        data = form.cleaned_data
        if data["channel"]:
            rows = rows.filter(channel=data["channel"])
        if data["status"]:
            rows = rows.filter(status=data["status"])
        if data["topic"].strip():
            rows = rows.filter(topic=data["topic"].strip())
        term = data["q"].strip()
        if term:
            # Exact matches only: both are indexed; a body substring search would scan the log.
            rows = rows.filter(Q(dedupe_id=term) | Q(order__number=term))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/message_list.html",
        {"form": form, "page": page, "query": _query_without_page(request)},
    )


def _pretty_body(body: str) -> tuple[str, bool]:
    """The body indented when it is JSON; as received otherwise (the template escapes it)."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False), True
    except ValueError:
        return body, False


@login_required
@permission_required("integrations.view_inboundmessage", raise_exception=True)
def message_detail(request, pk):
    message = get_object_or_404(InboundMessage.objects.select_related("channel", "order"), pk=pk)
    body, is_json = _pretty_body(message.body)
    return render(
        request,
        "integrations/message_detail.html",
        {
            "message": message,
            "body": body,
            "is_json": is_json,
            "headers": sorted(message.headers.items()) if isinstance(message.headers, dict) else [],
            "can_replay": message.status == InboundStatus.FAILED,
        },
    )


def _replay(request, message_id: int) -> str | None:
    """Replay one message and report it; the resulting status, or None when refused."""
    try:
        message = inbound_message_replay(message_id)
    except DomainError as exc:
        messages.error(request, f"#{message_id}: {exc.message}")
        return None
    text = _("Message #%(id)s replayed: %(status)s.") % {
        "id": message_id,
        "status": message.get_status_display(),
    }
    if message.status == InboundStatus.PROCESSED:
        messages.success(request, text)
    else:
        messages.warning(request, f"{text} {message.error}".strip())
    return message.status


def _back(request, default: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@login_required
@require_POST
@permission_required("integrations.change_inboundmessage", raise_exception=True)
def message_replay(request, pk):
    message = get_object_or_404(InboundMessage.objects.only("pk"), pk=pk)
    _replay(request, message.pk)
    return _back(request, reverse("integrations_desk:message-detail", args=[message.pk]))


# --- failed queue ------------------------------------------------------------------------------


@login_required
@permission_required("integrations.view_inboundmessage", raise_exception=True)
def failed_list(request):
    counts: dict[int | None, dict] = {}
    for row in (
        InboundMessage.objects.filter(status__in=NEEDS_ATTENTION)
        .values("channel_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts.setdefault(row["channel_id"], {})[row["status"]] = row["n"]
    channels = {c.pk: c for c in Channel.objects.filter(pk__in=[k for k in counts if k is not None])}
    summary = [
        {
            "channel": channels.get(channel_id),
            "failed": by_status.get(InboundStatus.FAILED, 0),
            "rejected": by_status.get(InboundStatus.REJECTED, 0),
        }
        for channel_id, by_status in counts.items()
    ]
    summary.sort(key=lambda row: row["channel"].code if row["channel"] else "")

    selected = request.GET.get("channel", "")
    rows = _log_rows().filter(status__in=NEEDS_ATTENTION).order_by("channel__code", "-received_at", "-pk")
    if selected:
        rows = rows.filter(channel__code=selected)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    write_backs = writeback.failed_writebacks()
    if selected:
        write_backs = write_backs.filter(channel__code=selected)
    return render(
        request,
        "integrations/failed_list.html",
        {
            "summary": summary,
            "page": page,
            "selected": selected,
            "query": _query_without_page(request),
            "write_backs": write_backs[:PAGE_SIZE],
            "write_backs_failed": write_backs.count(),
        },
    )


@login_required
@require_POST
@permission_required("integrations.change_inboundmessage", raise_exception=True)
def failed_replay(request):
    ids = sorted({int(value) for value in request.POST.getlist("message") if value.isdigit()})
    if not ids:
        messages.error(request, _("Select the messages to replay."))
        return _back(request, reverse("integrations_desk:failed"))
    outcomes = [_replay(request, message_id) for message_id in ids[:PAGE_SIZE]]
    processed = outcomes.count(InboundStatus.PROCESSED)
    messages.info(
        request,
        _("%(processed)s of %(total)s replayed messages processed.")
        % {"processed": processed, "total": len(outcomes)},
    )
    return _back(request, reverse("integrations_desk:failed"))


@login_required
@require_POST
def writeback_retry(request, pk):
    """Send a failed shipment write-back again (order page, failed queue); managers only
    (integrations.writeback.writeback_retry checks)."""
    try:
        row = writeback.writeback_retry(write_back=pk, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("The write-back of parcel %(parcel)s is on its way again.") % {"parcel": row.shipment.number},
        )
    return _back(request, reverse("integrations_desk:failed"))


# --- channel status: messages per channel, and where each channel's polling stands -------------


@login_required
@permission_required("integrations.view_inboundmessage", raise_exception=True)
def channel_status(request):
    """The sync status screen: per channel its messages of the last day, and (for a polled
    channel) its cursor, lag, last run and error, who holds it now and its latest re-pull."""
    states = channel_sync_states()
    since = timezone.now() - timedelta(hours=24)
    recent: dict[int, dict[str, int]] = {}
    for row in (
        InboundMessage.objects.filter(received_at__gte=since, channel__isnull=False)
        .values("channel_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        recent.setdefault(row["channel_id"], {})[row["status"]] = row["n"]
    last_received = dict(
        InboundMessage.objects.filter(channel__isnull=False)
        .values("channel_id")
        .annotate(last=Max("received_at"))
        .order_by()
        .values_list("channel_id", "last")
    )
    rows = []
    for state in states:
        channel = state.channel
        last_failure = (
            InboundMessage.objects.filter(channel=channel, status__in=NEEDS_ATTENTION)
            .order_by("-received_at")
            .values("pk", "error", "received_at")
            .first()
        )
        by_status = recent.get(channel.pk, {})
        rows.append(
            {
                "channel": channel,
                "sync": state,
                "lag": duration_text(state.lag) if state.lag is not None else None,
                "recent": [(label, by_status.get(value, 0)) for value, label in InboundStatus.choices],
                "recent_total": sum(by_status.values()),
                "last_received": last_received.get(channel.pk),
                "last_failure": last_failure,
            }
        )
    may_see_runs = request.user.has_perm("integrations.view_channelrepull")
    return render(
        request,
        "integrations/channel_status.html",
        {
            "rows": rows,
            "statuses": InboundStatus.choices,
            "may_repull": request.user.has_perm(repull.PERMISSION),
            "may_see_runs": may_see_runs,
            "may_set_up": request.user.has_perm("integrations.add_channel"),
            "may_change": request.user.has_perm("integrations.change_channel"),
            "repulls": channel_repulls(limit=10) if may_see_runs else [],
            "lag_alert_minutes": settings.OPS_SYNC_LAG_ALERT_MINUTES,
        },
    )


REPULL_REFRESH_SECONDS = 3


class RepullForm(forms.Form):
    since = forms.CharField(
        label=gettext_lazy("Orders updated from"),
        widget=forms.TextInput(attrs={"type": "datetime-local", "step": "1"}),
    )
    until = forms.CharField(
        label=gettext_lazy("to (not included)"),
        widget=forms.TextInput(attrs={"type": "datetime-local", "step": "1"}),
    )


def _local_input(moment: datetime, zone) -> str:
    return timezone.localtime(moment, zone).strftime("%Y-%m-%dT%H:%M")


@login_required
@permission_required(repull.PERMISSION, raise_exception=True)
def repull_new(request, code):
    """The "Re-pull a window" form of one channel: times are read in the channel's time zone
    (unless given with an offset); the re-pull is queued for a worker and followed on its page."""
    channel = get_object_or_404(Channel, code=code)
    zone = channel.time_zone
    if request.method == "POST":
        form = RepullForm(request.POST)
        if form.is_valid():
            try:
                window = repull.repull_window(channel, form.cleaned_data["since"], form.cleaned_data["until"])
                run = repull.channel_repull_request(
                    channel=channel, since=window.since, until=window.until, actor=request.user
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(
                    request,
                    " ".join(
                        filter(
                            None,
                            [_("Re-pull #%(run)s queued.") % {"run": run.pk}, window.notice()],
                        )
                    ),
                )
                return redirect("integrations_desk:repull", pk=run.pk)
    else:
        now = timezone.now()
        form = RepullForm(
            initial={"since": _local_input(now - timedelta(days=1), zone), "until": _local_input(now, zone)}
        )
    cursor = models.SyncCursor.objects.filter(channel=channel).first()
    return render(
        request,
        "integrations/repull_form.html",
        {
            "channel": channel,
            "zone": zone,
            "form": form,
            "refusal": repull.repull_refusal(channel),
            "cursor": cursor,
            "max_days": repull.MAX_WINDOW.days,
            "runs": channel_repulls(channel=channel, limit=10),
        },
    )


@login_required
@permission_required("integrations.view_channelrepull", raise_exception=True)
def repull_detail(request, pk):
    """One re-pull: its window, who asked, its progress (the page reloads itself while it is
    queued or running) and its counts and failures."""
    run = get_object_or_404(ChannelRepull.objects.select_related("channel", "requested_by"), pk=pk)
    return render(
        request,
        "integrations/repull_detail.html",
        {
            "run": run,
            "zone": run.channel.time_zone,
            "waiting": run.state in REPULL_ACTIVE_STATES,
            "refresh_seconds": REPULL_REFRESH_SECONDS,
            "counts": [
                (_("Fetched"), run.fetched),
                (_("New"), run.created),
                (_("Updated"), run.updated),
                (_("Unchanged"), run.unchanged),
                (_("Ignored"), run.ignored),
                (_("Failed"), run.failed),
            ],
            "more_failed": max(run.failed - len(run.errors), 0),
        },
    )


# --- generic order upload --------------------------------------------------------------------------
# The request only stores the file (integrations.uploads); a worker reads it, and the page that
# follows reloads itself until the preview is there.

REFRESH_SECONDS = 2


class OrderUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Order file"),
        help_text=gettext_lazy(
            "Excel (.xlsx), OpenDocument (.ods) or CSV (UTF-8 or GBK), one row per order line, at most 10 MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.ods,.csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in order_upload.EXTENSIONS:
            raise forms.ValidationError(accepted_types(order_upload.EXTENSIONS))
        limit = settings.SHEETS_MAX_FILE_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
            )
        return upload


def _upload_page(request, upload):
    if upload.state in (OrderUploadState.QUEUED, OrderUploadState.REFUSED):
        return render(
            request,
            "integrations/order_upload_status.html",
            {
                "upload": upload,
                "waiting": upload.state == OrderUploadState.QUEUED,
                "refresh_seconds": REFRESH_SECONDS,
                "form": OrderUploadForm(),
            },
        )
    preview = uploads.order_upload_stored_preview(upload)
    return render(
        request,
        "integrations/order_upload_preview.html",
        {"preview": preview, "token": upload.token, "upload": upload},
    )


@login_required
@permission_required("orders.add_order", raise_exception=True)
def upload_orders(request):
    posted = request.method == "POST"
    form = OrderUploadForm(request.POST, request.FILES) if posted else OrderUploadForm()
    if posted and form.is_valid():
        file = form.cleaned_data["file"]
        try:
            upload = uploads.order_upload_queue(
                file_bytes=file.read(), file_name=file.name, actor=request.user
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            return redirect("integrations_desk:upload-preview", token=upload.token)
    return render(
        request,
        "integrations/order_upload.html",
        {"form": form, "columns": order_upload.COLUMNS, "max_rows": order_upload.MAX_ROWS},
    )


def _own_upload(request, token):
    """The user's own upload (anyone else's is unknown), or a message and the upload page."""
    try:
        return uploads.order_upload_get(token=token, actor=request.user), None
    except DomainError as exc:
        messages.error(request, exc.message)
        return None, redirect("integrations_desk:upload")


@login_required
@permission_required("orders.add_order", raise_exception=True)
def upload_orders_preview(request, token):
    upload, elsewhere = _own_upload(request, token)
    return elsewhere or _upload_page(request, upload)


@login_required
@require_POST
@permission_required("orders.add_order", raise_exception=True)
def upload_orders_confirm(request, token):
    upload, elsewhere = _own_upload(request, token)
    if elsewhere:
        return elsewhere
    try:
        results = uploads.order_upload_confirm(upload=upload, actor=request.user)
    except order_upload.OrderUploadError as exc:
        messages.error(request, exc.message)
        upload.refresh_from_db()
        return _upload_page(request, upload)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("integrations_desk:upload")
    created = sum(1 for _order, was_created in results if was_created)
    messages.success(
        request,
        _("%(created)s orders imported; %(known)s were known already and left unchanged.")
        % {"created": created, "known": len(results) - created},
    )
    return redirect("orders:list")


@login_required
@permission_required("orders.add_order", raise_exception=True)
def upload_orders_errors(request, token):
    upload, elsewhere = _own_upload(request, token)
    if elsewhere:
        return elsewhere
    preview = uploads.order_upload_stored_preview(upload)
    response = HttpResponse(order_upload.order_upload_error_file(preview), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="order-upload-errors.xlsx"'
    return response


@login_required
@permission_required("orders.add_order", raise_exception=True)
def upload_orders_template(request):
    response = HttpResponse(order_upload.order_upload_template(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="order-upload-template.xlsx"'
    return response
