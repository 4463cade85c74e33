"""The bundle (组合装) and gift-rule (赠品策略) admin in a real browser (Debian Chromium via
Playwright, core.tests.browser): an administrator creates a bundle with its components through the
SKU form's inline rows and SKU autocompletes; a manager creates a gift rule, the next order gets
the gift, and the rule is switched off from the list."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from inventory.models import SKU, BundleComponent
from orders.models import GiftRule, LineKind
from orders.tests.factories import SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user


def staff(make_user, role):
    user = make_user(role)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def sign_in_admin(page, user):
    page.goto(f"{page.base_url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def pick(page, container, text: str) -> None:
    """Choose `text` in the select2 autocomplete inside `container` (Django's autocomplete_fields)."""
    container.locator(".select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.click()


def test_an_administrator_creates_a_bundle_with_its_components(desk, make_user):
    ensure_master_data(stock=0)
    sign_in_admin(desk, staff(make_user, Role.ADMIN))

    desk.goto(f"{desk.base_url}/admin/inventory/sku/add/")
    desk.fill("#id_code", "BOX-BR")
    desk.fill("#id_name", "Gift box")
    desk.check("#id_is_bundle")
    pick(desk, desk.locator("#bundle_components-0 .field-component"), "SKU-1")
    desk.fill("#id_bundle_components-0-quantity", "2")
    desk.fill("#id_bundle_components-0-reference_price", "30.00")
    desk.locator("#bundle_components-group .add-row a").click()
    pick(desk, desk.locator("#bundle_components-1 .field-component"), "SKU-2")
    desk.fill("#id_bundle_components-1-quantity", "1")
    desk.fill("#id_bundle_components-1-reference_price", "40.00")
    screenshot(desk, "admin-bundle-form")
    desk.click("input[name=_save]")

    desk.locator("ul.messagelist li.success").wait_for()
    screenshot(desk, "admin-bundle-saved")
    box = SKU.objects.get(code="BOX-BR")
    assert box.is_bundle
    assert sorted(BundleComponent.objects.filter(bundle=box).values_list("component__code", "quantity")) == [
        ("SKU-1", 2),
        ("SKU-2", 1),
    ]


def test_a_bundle_containing_another_bundle_is_refused_in_the_form(desk, make_user):
    ensure_master_data(stock=0)
    SKU.objects.create(code="INNER-BOX", name="Inner box", is_bundle=True)
    sign_in_admin(desk, staff(make_user, Role.ADMIN))

    desk.goto(f"{desk.base_url}/admin/inventory/sku/add/")
    desk.fill("#id_code", "OUTER-BOX")
    desk.fill("#id_name", "Outer box")
    desk.check("#id_is_bundle")
    pick(desk, desk.locator("#bundle_components-0 .field-component"), "INNER-BOX")
    desk.click("input[name=_save]")

    errors = desk.locator("#bundle_components-group .errorlist")
    errors.first.wait_for()
    assert "a bundle cannot contain another bundle" in errors.first.inner_text()
    assert not SKU.objects.filter(code="OUTER-BOX").exists()


def test_a_manager_creates_a_gift_rule_that_gives_the_next_order_its_gift(desk, make_user):
    ensure_master_data(stock=100)
    receive(SKUFactory(code="TOTE", name="Tote bag"), 5)
    sign_in_admin(desk, staff(make_user, Role.MANAGER))

    desk.goto(f"{desk.base_url}/admin/orders/giftrule/add/")
    desk.fill("#id_name", "Tote with two SKU-1")
    pick(desk, desk.locator(".field-trigger_sku"), "SKU-1")
    desk.fill("#id_trigger_quantity", "2")
    pick(desk, desk.locator(".field-gift_sku"), "TOTE")
    desk.fill("#id_gift_quantity", "1")
    screenshot(desk, "admin-gift-rule-form")
    desk.click("input[name=_save]")
    desk.locator("ul.messagelist li.success").wait_for()

    rule = GiftRule.objects.get(name="Tote with two SKU-1")
    assert (rule.trigger_sku.code, rule.trigger_quantity, rule.gift_sku.code, rule.is_active) == (
        "SKU-1",
        2,
        "TOTE",
        True,
    )
    gifted = make_order()  # SKU-1 ×2
    assert [(line.sku.code, line.unit_price) for line in gifted.lines.filter(kind=LineKind.GIFT)] == [
        ("TOTE", 0)
    ]

    # switched off from the list (the active toggle), the next order gets nothing
    desk.goto(f"{desk.base_url}/admin/orders/giftrule/?is_active__exact=1")
    screenshot(desk, "admin-gift-rule-list")
    desk.uncheck("input[name=form-0-is_active]")
    desk.click("input[name=_save]")
    desk.locator("ul.messagelist li.success").wait_for()
    rule.refresh_from_db()
    assert not rule.is_active
    assert not make_order().lines.filter(kind=LineKind.GIFT).exists()
