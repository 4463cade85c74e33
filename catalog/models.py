"""Sales channels: the shops orders come from. Every other app refers to a channel, so it sits
just above core."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from timezone_field import TimeZoneField

from core.encrypted_fields import EncryptedJSONField, EncryptedTextField
from core.models import TimeStampedModel
from core.money import CurrencyField


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    AMAZON = "amazon", "Amazon"
    TAOBAO = "taobao", _("Taobao / Tmall")
    JD = "jd", _("JD")
    DOUYIN = "douyin", _("Douyin")
    PDD = "pdd", _("Pinduoduo")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
    GENERIC = "generic", _("Generic (API / Excel)")


class WriteBackMoment(models.TextChoices):
    """When a parcel's carrier and tracking number go back to the platform (发货回传,
    integrations.writeback)."""

    SHIPPED = "shipped", _("When the parcel ships")
    FIRST_SCAN = "first_scan", _("At the carrier's first scan")
    OFF = "off", _("Never (the platform is told some other way)")


class Channel(TimeStampedModel):
    """A shop on a sales platform; every order comes from exactly one channel."""

    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=120)
    time_zone = TimeZoneField(_("time zone"), default="Asia/Shanghai")
    currency = CurrencyField(default="CNY")
    reservation_ttl_minutes = models.PositiveIntegerField(
        _("reservation TTL (minutes)"),
        default=30,
        help_text=_("Unpaid orders release their reserved stock after this long."),
    )
    # Secrets are write-only in every UI: stored encrypted for signing, never rendered back.
    webhook_secret = EncryptedTextField(_("webhook secret"), max_length=255, blank=True)
    api_credentials = EncryptedJSONField(_("API credentials"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    notify_customers = models.BooleanField(
        _("notify customers"),
        default=True,
        help_text=_(
            "Tell this shop's customers that their orders were placed, shipped and delivered. Off "
            "when the platform tells them itself, and for the demo shops."
        ),
    )

    writeback_on = models.CharField(
        _("tell the platform a parcel shipped"),
        max_length=12,
        choices=WriteBackMoment.choices,
        default=WriteBackMoment.SHIPPED,
        help_text=_(
            "When the platform is told each parcel's carrier and tracking number: as it ships, or "
            "once the carrier first scans it (platforms that check the number against the "
            "carrier's records)."
        ),
    )

    class Meta:
        app_label = "integrations"  # see catalog/apps.py
        ordering = ["code"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self):
        return f"{self.name} ({self.code})"
