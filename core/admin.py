from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.models import AlertMedium, AlertRoute, OutboxMessage, User
from core.outbox import outbox_replay


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Preferences"), {"fields": ("time_zone",)}))
    list_filter = (*BaseUserAdmin.list_filter, "groups")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: rows change only through core.outbox; dead messages are replayed by the action."""

    list_display = (
        "id",
        "kind",
        "channel",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    list_filter = ("state", "kind", "channel")
    search_fields = ("idempotency_key",)
    list_select_related = ("channel",)
    ordering = ("-id",)
    actions = ("replay",)
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Replay selected dead messages"), permissions=["change"])
    def replay(self, request, queryset):
        replayed, refused = 0, 0
        for message_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                outbox_replay(message_id, actor=request.user)
            except DomainError:
                refused += 1
            else:
                replayed += 1
        if replayed:
            self.message_user(request, _("%(n)d message(s) replayed.") % {"n": replayed}, messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                _("%(n)d message(s) skipped: only dead messages can be replayed.") % {"n": refused},
                messages.WARNING,
            )


class AlertRouteForm(forms.ModelForm):
    target = forms.CharField(
        label=_("Phone or robot address"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "A phone number for SMS, or the WeCom group robot's webhook address. Write-only: leave empty "
            "to keep the current one."
        ),
    )

    class Meta:
        model = AlertRoute
        fields = ["name", "role", "kinds", "min_severity", "medium", "target", "is_active"]

    def clean_target(self):
        target = (self.cleaned_data["target"] or "").strip() or self.instance.target
        if not target:
            raise forms.ValidationError(_("Give a phone number or a robot address."))
        return target

    def clean(self):
        cleaned = super().clean()
        target, medium = cleaned.get("target") or "", cleaned.get("medium")
        if medium == AlertMedium.WECOM and not target.startswith("https://"):
            self.add_error("target", _("A WeCom robot address starts with https://."))
        if medium == AlertMedium.SMS and target.startswith(("http://", "https://")):
            self.add_error("target", _("An SMS goes to a phone number."))
        return cleaned


@admin.register(AlertRoute)
class AlertRouteAdmin(admin.ModelAdmin):
    """Where alerts go besides the desk (fulfilment.staff_alerts); the target is write-only."""

    form = AlertRouteForm
    list_display = ["name", "role", "medium", "min_severity", "kinds", "is_active"]
    list_filter = ["role", "medium", "is_active"]
