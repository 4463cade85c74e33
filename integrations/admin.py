from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ImportExportModelAdmin

from integrations.models import Channel


class ChannelResource(resources.ModelResource):
    class Meta:
        model = Channel
        import_id_fields = ["code"]
        # Secrets never leave through an export nor arrive through a spreadsheet.
        fields = ["code", "platform", "name", "time_zone", "currency", "reservation_ttl_minutes", "is_active"]


class ChannelForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        label=_("Webhook secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Write-only: leave empty to keep the current secret."),
    )

    class Meta:
        model = Channel
        fields = [
            "platform",
            "code",
            "name",
            "time_zone",
            "currency",
            "reservation_ttl_minutes",
            "webhook_secret",
            "is_active",
        ]

    def clean_webhook_secret(self):
        return self.cleaned_data["webhook_secret"] or self.instance.webhook_secret


@admin.register(Channel)
class ChannelAdmin(ImportExportModelAdmin):
    form = ChannelForm
    resource_classes = [ChannelResource]
    list_display = [
        "code",
        "name",
        "platform",
        "time_zone",
        "currency",
        "reservation_ttl_minutes",
        "is_active",
    ]
    list_filter = ["platform", "is_active", "currency"]
    search_fields = ["code", "name"]
