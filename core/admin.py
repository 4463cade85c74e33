from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.models import OutboxMessage, User
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
