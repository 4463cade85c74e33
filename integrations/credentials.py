"""What each platform's API credentials are: the keys a channel's `api_credentials` holds, which
of them are secrets (write-only everywhere: forms never render them back, commands never print
them) and which a working channel cannot do without. The desk's channel set-up form and the
`add_channel` command are both built from this table, so a key is named once, here, and the
client that reads it (integrations/<platform>/client.py) is the reference for its meaning.

Updating merges: a key left empty keeps what is stored, so rotating one token never drops the
others, and a secret never has to be typed again to change a name."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import Platform


@dataclass(frozen=True)
class CredentialField:
    key: str
    label: str
    secret: bool = False
    required: bool = False
    help_text: str = ""
    # Set in a JSON file or the admin only (a switch or a tuning figure, not typed by a person
    # setting up a shop): accepted everywhere, not a field of the desk form.
    advanced: bool = False


def _field(key, label, *, secret=False, required=False, help_text="", advanced=False):
    return CredentialField(key, label, secret, required, help_text, advanced)


BASE_URL = _field(
    "base_url",
    gettext_lazy("Gateway address"),
    help_text=gettext_lazy(
        "Leave empty for the platform's production gateway (a sandbox address otherwise)."
    ),
)

CREDENTIAL_FIELDS: dict[str, tuple[CredentialField, ...]] = {
    Platform.SHOPIFY: (
        # The shop domain, or a full gateway address instead (REQUIRED_ONE_OF).
        _field("shop", gettext_lazy("Shop domain"), help_text="example.myshopify.com"),
        _field("access_token", gettext_lazy("Admin API access token"), secret=True, required=True),
        BASE_URL,
    ),
    Platform.WOOCOMMERCE: (
        _field(
            "base_url", gettext_lazy("Store address"), required=True, help_text="https://shop.example.com"
        ),
        _field("consumer_key", gettext_lazy("REST API consumer key"), required=True),
        _field("consumer_secret", gettext_lazy("REST API consumer secret"), secret=True, required=True),
    ),
    Platform.TAOBAO: (
        _field("app_key", gettext_lazy("App key"), required=True),
        _field("app_secret", gettext_lazy("App secret"), secret=True, required=True),
        _field("session", gettext_lazy("Session key (seller authorisation)"), secret=True, required=True),
        _field("seller_nick", gettext_lazy("Seller nick"), help_text=gettext_lazy("Routes TMC messages.")),
        _field("tmc_group", gettext_lazy("TMC group")),
        _field("sign_method", gettext_lazy("Sign method"), help_text="md5 | hmac | hmac-sha256"),
        _field("tmc", gettext_lazy("Consume TMC messages"), advanced=True),
        # Cainiao's order_channels_type for this shop's waybills: "TM" for Tmall, default "TB".
        _field("cainiao_order_channel", gettext_lazy("Cainiao order channel (TB / TM)"), advanced=True),
        BASE_URL,
    ),
    Platform.AMAZON: (
        _field("client_id", gettext_lazy("LWA client id"), required=True),
        _field("client_secret", gettext_lazy("LWA client secret"), secret=True, required=True),
        _field("refresh_token", gettext_lazy("LWA refresh token"), secret=True, required=True),
        _field("marketplace_id", gettext_lazy("Marketplace id"), required=True),
        _field("seller_id", gettext_lazy("Seller id"), help_text=gettext_lazy("Needed for the stock push.")),
        _field(
            "endpoint",
            gettext_lazy("Endpoint"),
            help_text=gettext_lazy("Region (na, eu, fe) or address; from the marketplace if empty."),
        ),
        _field("lwa_url", gettext_lazy("Login with Amazon address"), advanced=True),
        _field("restricted_data", gettext_lazy("Read buyer and address (restricted data)"), advanced=True),
    ),
    Platform.JD: (
        _field("app_key", gettext_lazy("App key"), required=True),
        _field("app_secret", gettext_lazy("App secret"), secret=True, required=True),
        _field("access_token", gettext_lazy("Access token"), secret=True, required=True),
        _field("page_size", gettext_lazy("Page size"), advanced=True),
        BASE_URL,
    ),
    Platform.PDD: (
        _field("client_id", gettext_lazy("Client id"), required=True),
        _field("client_secret", gettext_lazy("Client secret"), secret=True, required=True),
        _field("access_token", gettext_lazy("Access token"), secret=True, required=True),
        _field(
            "mall_id",
            gettext_lazy("Shop (mall) id"),
            help_text=gettext_lazy(
                "Routes the message service's messages when one app serves several shops."
            ),
        ),
        _field("ws_url", gettext_lazy("Message service address"), advanced=True),
        BASE_URL,
    ),
    Platform.DOUYIN: (
        _field("app_key", gettext_lazy("App key"), required=True),
        _field("app_secret", gettext_lazy("App secret"), secret=True, required=True),
        _field("shop_id", gettext_lazy("Shop id")),
        _field("access_token", gettext_lazy("Access token"), secret=True),
        _field(
            "refresh_token",
            gettext_lazy("Refresh token"),
            secret=True,
            help_text=gettext_lazy("Lets Conduit renew an expired access token by itself."),
        ),
        _field("sign_method", gettext_lazy("Sign method"), help_text="md5 | hmac-sha256"),
        BASE_URL,
    ),
    Platform.XIAOHONGSHU: (
        _field("app_id", gettext_lazy("App id"), required=True),
        _field("app_secret", gettext_lazy("App secret"), secret=True, required=True),
        _field("access_token", gettext_lazy("Access token"), secret=True, required=True),
        _field(
            "refresh_token",
            gettext_lazy("Refresh token"),
            secret=True,
            help_text=gettext_lazy("Lets Conduit renew an expired access token by itself."),
        ),
        BASE_URL,
    ),
    Platform.GENERIC: (),
}


# Platforms that need one of several keys, whichever the seller has.
REQUIRED_ONE_OF = {
    Platform.SHOPIFY: ("shop", "base_url"),
    Platform.DOUYIN: ("access_token", "refresh_token"),  # the client refreshes from the latter alone
}

# Platforms that post to /integrations/webhooks/<platform>/<channel>/, and what the channel's
# webhook secret is for each (the others are polled only: their adapters refuse any post).
WEBHOOK_SECRETS = {
    Platform.SHOPIFY: gettext_lazy("The app's API secret key: Shopify signs each webhook with it."),
    Platform.WOOCOMMERCE: gettext_lazy("The secret entered on the store's webhook."),
    Platform.DOUYIN: gettext_lazy("The app secret: Douyin signs each push message with it."),
    Platform.XIAOHONGSHU: gettext_lazy("The app secret: Xiaohongshu signs each push message with it."),
    Platform.GENERIC: gettext_lazy("Signs the orders your own system posts (HMAC-SHA256 of the body)."),
}


# Kept with the credentials on every platform's channel: not the platform's, the shop's own.
SHOP_FIELDS = (
    _field(
        "wecom_robot_url",
        gettext_lazy("WeCom robot address"),
        secret=True,  # the address carries the robot's key
        help_text=gettext_lazy(
            "The group robot that gets this shop's WeCom notifications (default: the site's)."
        ),
    ),
)


def credential_fields(platform: str) -> tuple[CredentialField, ...]:
    return CREDENTIAL_FIELDS.get(platform, ()) + SHOP_FIELDS


def credentials_merged(platform: str, stored: dict | None, given: dict) -> dict:
    """The credentials after an update: the given keys (empty values keep the stored ones)
    over the stored ones. Unknown keys are refused by name; for a platform with a set-up table
    every required key must end up present. Keys kept by the platform itself (refreshed tokens,
    expiry) pass through untouched."""
    fields = {field.key: field for field in credential_fields(platform)}
    unknown = sorted(key for key in given if key not in fields)
    if unknown:
        raise ValidationError(
            {
                "api_credentials": _("Unknown credential keys for %(platform)s: %(keys)s.")
                % {"platform": Platform(platform).label, "keys": ", ".join(unknown)}
            }
        )
    merged = dict(stored or {})
    for key, value in given.items():
        text = value.strip() if isinstance(value, str) else value
        if text not in ("", None):
            merged[key] = text
    if not merged:
        return merged  # a channel without API access (webhooks only, or the generic platform)
    missing = [
        f"{field.label} ({field.key})"
        for field in fields.values()
        if field.required and merged.get(field.key) in (None, "")
    ]
    one_of = REQUIRED_ONE_OF.get(platform)
    if one_of and not any(merged.get(key) for key in one_of):
        missing.append(" / ".join(f"{fields[key].label} ({key})" for key in one_of))
    if missing:
        raise ValidationError(
            {"api_credentials": _("Missing credentials: %(keys)s.") % {"keys": ", ".join(missing)}}
        )
    return merged


def credentials_summary(platform: str, stored: dict | None) -> list[tuple[CredentialField, str]]:
    """For display: each field with its value when it is not a secret, else only whether it is
    set. A secret's text never leaves this function."""
    stored = stored or {}
    rows = []
    for field in credential_fields(platform):
        value = stored.get(field.key)
        if field.secret:
            shown = _("set") if value else _("not set")
        else:
            shown = str(value) if value not in (None, "") else "—"
        rows.append((field, shown))
    return rows
