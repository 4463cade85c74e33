"""Channel set-up in the desk: pick a platform, then one form with the channel's settings and
that platform's API credentials (integrations.credentials). Secrets are write-only: the form
never renders them back, it says whether each one is set, and an empty box keeps it."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from timezone_field import TimeZoneFormField

from catalog.models import Channel, Platform, WriteBackMoment
from integrations.credentials import (
    REQUIRED_ONE_OF,
    WEBHOOK_SECRETS,
    credential_fields,
    credentials_summary,
)
from integrations.services import channel_create_or_update

CREDENTIAL_PREFIX = "credential_"
SETTINGS = ("name", "time_zone", "currency", "reservation_ttl_minutes", "writeback_on")


class ChannelSetupForm(forms.Form):
    code = forms.SlugField(label=gettext_lazy("Code"), max_length=50)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    time_zone = TimeZoneFormField(label=gettext_lazy("Time zone"), initial="Asia/Shanghai")
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial="CNY")
    reservation_ttl_minutes = forms.IntegerField(
        label=gettext_lazy("Reservation TTL (minutes)"),
        min_value=1,
        initial=30,
        help_text=gettext_lazy("Unpaid orders release their reserved stock after this long."),
    )
    writeback_on = forms.ChoiceField(
        label=gettext_lazy("Tell the platform a parcel shipped"),
        choices=WriteBackMoment.choices,
        initial=WriteBackMoment.SHIPPED,
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    notify_customers = forms.BooleanField(
        label=gettext_lazy("Notify customers"),
        required=False,
        help_text=gettext_lazy("Off when the platform tells its buyers itself."),
    )

    def __init__(self, *args, platform: str, channel: Channel | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.platform, self.channel = platform, channel
        stored = (channel.api_credentials or {}) if channel else {}
        if channel is not None:
            self.fields["code"].disabled = True
        if platform in WEBHOOK_SECRETS:
            self.fields["webhook_secret"] = forms.CharField(
                label=_("Webhook secret"),
                required=False,
                widget=forms.PasswordInput(render_value=False),
                help_text=_secret_help(WEBHOOK_SECRETS[platform], bool(channel and channel.webhook_secret)),
            )
        one_of = REQUIRED_ONE_OF.get(platform, ())
        labels = {field.key: field.label for field in credential_fields(platform)}
        for field in credential_fields(platform):
            if field.advanced:
                continue
            help_text = str(field.help_text)
            if field.secret:
                help_text = _secret_help(help_text, bool(stored.get(field.key)))
            if field.key in one_of:
                others = " / ".join(str(labels[key]) for key in one_of if key != field.key)
                help_text = " ".join(filter(None, [help_text, _("Or: %(other)s.") % {"other": others}]))
            self.fields[CREDENTIAL_PREFIX + field.key] = forms.CharField(
                label=field.label,
                required=field.required and not stored.get(field.key),
                max_length=4000,
                widget=forms.PasswordInput(render_value=False) if field.secret else forms.TextInput(),
                initial=None if field.secret else stored.get(field.key),
                help_text=help_text,
            )

    def clean_currency(self):
        return self.cleaned_data["currency"].strip().upper()

    def credentials(self) -> dict:
        return {
            name.removeprefix(CREDENTIAL_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(CREDENTIAL_PREFIX)
        }

    def credential_fields(self):
        return [self[name] for name in self.fields if name.startswith(CREDENTIAL_PREFIX)]

    def setting_fields(self):
        return [self[name] for name in self.fields if not name.startswith(CREDENTIAL_PREFIX)]


def _secret_help(text, is_set: bool) -> str:
    state = _("Set: leave empty to keep it.") if is_set else _("Not set.")
    return " ".join(filter(None, [str(text), state]))


def _platform_or_404(platform: str) -> str:
    if platform not in Platform.values:
        raise Http404(_("No such platform."))
    return platform


@login_required
@permission_required("integrations.add_channel", raise_exception=True)
def channel_new(request):
    """Step one: which platform the shop sells on."""
    platforms = [
        {
            "value": value,
            "label": label,
            "keys": [field.label for field in credential_fields(value) if field.required],
            "push": value in WEBHOOK_SECRETS,
        }
        for value, label in Platform.choices
    ]
    return render(request, "integrations/channel_new.html", {"platforms": platforms})


@login_required
@permission_required("integrations.add_channel", raise_exception=True)
def channel_create(request, platform):
    return _setup(request, platform=_platform_or_404(platform), channel=None)


@login_required
@permission_required("integrations.change_channel", raise_exception=True)
def channel_edit(request, code):
    channel = get_object_or_404(Channel, code=code)
    return _setup(request, platform=channel.platform, channel=channel)


def _setup(request, *, platform: str, channel: Channel | None):
    initial = None
    if channel is not None:
        initial = {
            name: getattr(channel, name) for name in (*SETTINGS, "code", "is_active", "notify_customers")
        }
    form = ChannelSetupForm(request.POST or None, platform=platform, channel=channel, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        code = channel.code if channel else data["code"]
        if channel is None and Channel.objects.filter(code=code).exists():
            form.add_error("code", _("A channel with this code exists already."))
        else:
            try:
                saved, created = channel_create_or_update(
                    code=code,
                    platform=platform,
                    **{name: data[name] for name in (*SETTINGS, "is_active", "notify_customers")},
                    webhook_secret=data.get("webhook_secret") or None,
                    api_credentials=form.credentials(),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except IntegrityError:  # created by someone else between the check and the insert
                form.add_error("code", _("A channel with this code exists already."))
            else:
                messages.success(
                    request,
                    (_("Channel %(code)s created.") if created else _("Channel %(code)s saved."))
                    % {"code": saved.code},
                )
                return redirect(reverse("integrations_desk:channel-edit", args=[saved.code]))
    webhook_url = None
    if platform in WEBHOOK_SECRETS and channel is not None:
        webhook_url = request.build_absolute_uri(f"/integrations/webhooks/{platform}/{channel.code}/")
    return render(
        request,
        "integrations/channel_setup.html",
        {
            "form": form,
            "channel": channel,
            "platform": platform,
            "platform_label": Platform(platform).label,
            "credentials": credentials_summary(platform, channel.api_credentials) if channel else [],
            "webhook_url": webhook_url,
        },
    )
