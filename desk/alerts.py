"""The alerts queue of the desk: each role works the alerts raised to it; managers see them all."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.alerts import alert_acknowledge, alert_resolve
from core.errors import DomainError
from core.models import Alert, AlertState
from core.roles import Role, user_roles

PAGE_SIZE = 50
SEES_ALL = {Role.MANAGER, Role.ADMIN}


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        choices=[("", gettext_lazy("Open or acknowledged")), *AlertState.choices],
        required=False,
    )
    kind = forms.SlugField(label=gettext_lazy("Kind"), max_length=40, required=False)
    mine = forms.BooleanField(label=gettext_lazy("Taken by me"), required=False)


def visible_alerts(user) -> QuerySet[Alert]:
    """Alerts raised to one of the user's roles; all of them for managers, admins and users
    granted core.view_alert. Someone with no role sees none (and is refused the page)."""
    roles = user_roles(user)
    if roles & SEES_ALL or user.has_perm("core.view_alert"):
        return Alert.objects.all()
    if not roles:
        raise PermissionDenied
    return Alert.objects.filter(role__in=roles)


@login_required
def alert_list(request):
    alerts = visible_alerts(request.user).select_related("acknowledged_by", "resolved_by", "owner")
    form = AlertFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    state = data.get("state", "")
    alerts = alerts.filter(state=state) if state else alerts.exclude(state=AlertState.RESOLVED)
    if data.get("kind"):
        alerts = alerts.filter(kind=data["kind"])
    if data.get("mine"):
        alerts = alerts.filter(owner=request.user)
    alerts = alerts.order_by("-last_raised_at", "-pk")
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = dict(Role.choices)
    for alert in page:
        alert.role_label = labels.get(alert.role, alert.role)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "state": state, "query": query.urlencode()}
    return render(request, "core/alert_list.html", context)


def _back(request):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("alerts:list")


@login_required
@require_POST
def alert_acknowledge_view(request, pk):
    alert = get_object_or_404(visible_alerts(request.user), pk=pk)
    try:
        alert_acknowledge(alert=alert, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Alert acknowledged."))
    return _back(request)


@login_required
@require_POST
def alert_resolve_view(request, pk):
    alert = get_object_or_404(visible_alerts(request.user), pk=pk)
    if alert_resolve(alert=alert, actor=request.user):
        messages.success(request, _("Alert resolved."))
    else:
        messages.error(request, _("This alert was already resolved."))
    return _back(request)


@login_required
@require_POST
def alert_take_view(request, pk):
    """Take ownership: the alert is the user's to work; an open one counts as acknowledged
    (which also stops an SLA escalation)."""
    alert = get_object_or_404(visible_alerts(request.user), pk=pk)
    with transaction.atomic():
        Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
            state=AlertState.ACKNOWLEDGED, acknowledged_by=request.user, acknowledged_at=timezone.now()
        )
        unresolved = Alert.objects.filter(pk=alert.pk).exclude(state=AlertState.RESOLVED)
        taken = unresolved.update(owner=request.user)
    if taken:
        messages.success(request, _("The alert is yours now."))
    else:
        messages.error(request, _("This alert was already resolved."))
    return _back(request)
