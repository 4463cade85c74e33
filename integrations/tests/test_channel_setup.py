"""Channel set-up (issue #16 part 7): the desk form per platform, built from the credential
table, with write-only secrets that an empty box keeps; the add_channel command checks the same
table and merges key by key."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Channel, Platform
from core.roles import Role
from integrations.credentials import CREDENTIAL_FIELDS, credentials_merged

pytestmark = pytest.mark.django_db

NEW_JD = "/integrations/desk/channels/new/jd/"
SHOP = {
    "code": "jd-flagship",
    "name": "JD flagship",
    "time_zone": "Asia/Shanghai",
    "currency": "cny",
    "reservation_ttl_minutes": "30",
    "writeback_on": "shipped",
    "is_active": "on",
}


@pytest.fixture
def admin(client, make_user):
    client.force_login(make_user(Role.ADMIN))
    return client


def test_every_platform_has_a_credential_table_naming_what_its_client_reads():
    assert set(CREDENTIAL_FIELDS) == set(Platform.values)
    for platform, fields in CREDENTIAL_FIELDS.items():
        keys = [field.key for field in fields]
        assert len(keys) == len(set(keys)), platform


def test_the_platform_picker_links_a_form_for_each_platform(admin):
    page = admin.get("/integrations/desk/channels/new/")
    assert page.status_code == 200
    for value in Platform.values:
        assert f"/integrations/desk/channels/new/{value}/".encode() in page.content


def test_a_jd_channel_is_created_from_the_form_and_its_secrets_never_shown_again(admin):
    form = admin.get(NEW_JD)
    assert [
        name
        for name in ("credential_app_key", "credential_app_secret", "credential_access_token")
        if f'name="{name}"'.encode() in form.content
    ] == [
        "credential_app_key",
        "credential_app_secret",
        "credential_access_token",
    ]
    assert b'name="webhook_secret"' not in form.content  # JD is polled only

    response = admin.post(
        NEW_JD,
        {
            **SHOP,
            "credential_app_key": "APP-KEY-1",
            "credential_app_secret": "jd-secret-value",
            "credential_access_token": "jd-token-value",
        },
    )

    assert response.status_code == 302
    channel = Channel.objects.get(code="jd-flagship")
    assert (channel.platform, channel.currency, channel.api_credentials) == (
        "jd",
        "CNY",
        {"app_key": "APP-KEY-1", "app_secret": "jd-secret-value", "access_token": "jd-token-value"},
    )
    page = admin.get(response["Location"])
    assert b"APP-KEY-1" in page.content  # not a secret: shown
    assert b"jd-secret-value" not in page.content and b"jd-token-value" not in page.content


def test_an_empty_secret_box_keeps_the_stored_secret_and_a_new_one_replaces_it(admin):
    admin.post(
        NEW_JD,
        {**SHOP, "credential_app_key": "K", "credential_app_secret": "S1", "credential_access_token": "T1"},
    )
    edit = "/integrations/desk/channels/jd-flagship/edit/"
    response = admin.post(
        edit, {**SHOP, "name": "Renamed", "credential_app_key": "K", "credential_access_token": "T2"}
    )
    assert response.status_code == 302
    channel = Channel.objects.get(code="jd-flagship")
    assert channel.name == "Renamed"
    assert (channel.api_credentials["app_secret"], channel.api_credentials["access_token"]) == ("S1", "T2")


def test_missing_credentials_are_named_and_nothing_is_saved(admin):
    response = admin.post(NEW_JD, {**SHOP, "credential_app_key": "K"})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not Channel.objects.filter(code="jd-flagship").exists()


def test_a_douyin_channel_shows_its_push_address_and_keeps_the_webhook_secret_write_only(admin):
    response = admin.post(
        "/integrations/desk/channels/new/douyin/",
        {
            **SHOP,
            "code": "dy-shop",
            "credential_app_key": "7123",
            "credential_app_secret": "dy-app-secret",
            "credential_refresh_token": "dy-refresh",
            "webhook_secret": "dy-app-secret",
        },
    )
    assert response.status_code == 302
    channel = Channel.objects.get(code="dy-shop")
    assert channel.webhook_secret == "dy-app-secret"
    page = admin.get(response["Location"])
    assert b"/integrations/webhooks/douyin/dy-shop/" in page.content
    assert b"dy-app-secret" not in page.content and b"dy-refresh" not in page.content


def test_douyin_needs_an_access_or_a_refresh_token(admin):
    response = admin.post(
        "/integrations/desk/channels/new/douyin/",
        {**SHOP, "code": "dy-2", "credential_app_key": "7123", "credential_app_secret": "s"},
    )
    assert response.status_code == 200
    assert b"Missing credentials" in response.content
    assert not Channel.objects.filter(code="dy-2").exists()


def test_a_code_in_use_is_refused_not_overwritten(admin):
    Channel.objects.create(code="jd-flagship", name="Other", platform="shopify")
    response = admin.post(
        NEW_JD,
        {**SHOP, "credential_app_key": "K", "credential_app_secret": "S", "credential_access_token": "T"},
    )
    assert response.status_code == 200
    assert Channel.objects.get(code="jd-flagship").platform == "shopify"


def test_only_whoever_may_add_channels_sees_the_form(client, manager):
    client.force_login(manager)
    assert client.get(NEW_JD).status_code == 403
    assert client.get("/integrations/desk/channels/new/unknown/").status_code == 403


def test_an_unknown_platform_is_not_found(admin):
    assert admin.get("/integrations/desk/channels/new/ebay/").status_code == 404


# --- the add_channel command, from the same table ---------------------------------------------------


def add_channel(platform: str, code: str, credentials: dict, tmp_path) -> str:
    path = tmp_path / f"{code}.json"
    path.write_text(json.dumps(credentials))
    out = StringIO()
    call_command(
        "add_channel", "--platform", platform, "--code", code, "--api-credentials-file", str(path), stdout=out
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("platform", "credentials", "secrets"),
    [
        ("jd", {"app_key": "k", "app_secret": "jd-sec-1", "access_token": "jd-tok-1"}, 2),
        ("pdd", {"client_id": "c", "client_secret": "pdd-sec-1", "access_token": "pdd-tok-1"}, 2),
        (
            "douyin",
            {"app_key": "k", "app_secret": "dy-sec-1", "refresh_token": "dy-ref-1", "shop_id": "77977"},
            2,
        ),
        ("xiaohongshu", {"app_id": "a", "app_secret": "xhs-sec-1", "access_token": "xhs-tok-1"}, 2),
    ],
)
def test_add_channel_sets_up_each_chinese_platform_without_printing_a_secret(
    platform, credentials, secrets, tmp_path
):
    out = add_channel(platform, f"{platform}-1", credentials, tmp_path)
    assert Channel.objects.get(code=f"{platform}-1").api_credentials == credentials
    printed = [value for value in credentials.values() if "-" in value and value in out]
    assert printed == [] and len([v for v in credentials.values() if "-" in v]) == secrets
    assert f"API credentials set ({', '.join(sorted(credentials))})" in out


def test_add_channel_names_missing_and_unknown_keys(tmp_path):
    with pytest.raises(CommandError, match="app_secret"):
        add_channel("jd", "jd-1", {"app_key": "k", "access_token": "t"}, tmp_path)
    with pytest.raises(CommandError, match="appkey"):
        add_channel("jd", "jd-1", {"appkey": "k", "app_secret": "s", "access_token": "t"}, tmp_path)
    assert not Channel.objects.filter(code="jd-1").exists()


def test_add_channel_rotating_one_token_keeps_the_others(tmp_path):
    add_channel("pdd", "pdd-1", {"client_id": "c", "client_secret": "s", "access_token": "t1"}, tmp_path)
    add_channel("pdd", "pdd-1", {"access_token": "t2"}, tmp_path)
    assert Channel.objects.get(code="pdd-1").api_credentials == {
        "client_id": "c",
        "client_secret": "s",
        "access_token": "t2",
    }


def test_the_shops_own_wecom_robot_is_a_secret_every_platform_accepts(tmp_path):
    add_channel(
        "generic", "api-1", {"wecom_robot_url": "https://qyapi.weixin.qq.com/robot?key=k-1"}, tmp_path
    )
    assert Channel.objects.get(code="api-1").api_credentials["wecom_robot_url"].endswith("key=k-1")


def test_keys_the_platform_keeps_itself_pass_through_a_merge():
    stored = {"app_key": "k", "app_secret": "s", "access_token": "t", "expires_in": 604800}
    assert credentials_merged("douyin", stored, {"access_token": "t2"})["expires_in"] == 604800
