"""The desk works under its Content-Security-Policy in a real browser (Debian Chromium): no page
has script or style the policy blocks, and the behaviours that used to be inline attributes
(confirm before submit, submit on change) still work from static/desk/behaviours.js."""

import pytest
from django.db import transaction

from core.roles import Role
from dashboard.rollups import rollup_refresh
from orders.tests.factories import make_order, order_in_state

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture
def manager_desk(desk, make_user):
    user = make_user(Role.MANAGER)
    user.is_superuser = user.is_staff = True  # the admin and the API docs too
    user.save()
    desk.add_init_script(RECORD_VIOLATIONS)
    console = []
    desk.on("console", lambda message: console.append(message.text))
    desk.goto(f"{desk.base_url}/login/")
    desk.fill("input[name=username]", user.username)
    desk.fill("input[name=password]", PASSWORD)
    desk.click("button[type=submit]")
    desk.wait_for_selector("nav")
    desk.console = console
    return desk


def violations(page) -> list[str]:
    reported = page.evaluate("() => window.__violations")
    logged = [text for text in page.console if "Content Security Policy" in text]
    return reported + logged


def test_desk_admin_and_api_pages_run_without_policy_violations(manager_desk):
    with transaction.atomic():
        order_in_state("delivered")
    make_order()
    rollup_refresh()
    page = manager_desk

    for path in (
        "/",
        "/orders/",
        "/dashboard/",
        "/fulfilment/shipments/pick-list/",
        "/finance/periods/",
        "/finance/reports/daily-sales/",
        "/admin/",
        "/admin/orders/order/",
        "/api/docs/",
    ):
        page.goto(f"{page.base_url}{path}")
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path

    page.goto(f"{page.base_url}/dashboard/")
    page.wait_for_selector("body[data-charts-ready=true]")  # the charts still draw
    page.goto(f"{page.base_url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")  # Swagger UI renders under the relaxed policy
    assert violations(page) == []


def test_confirm_and_submit_on_change_work_without_inline_script(manager_desk):
    page = manager_desk
    page.evaluate(
        """() => {
          const form = document.createElement("form");
          form.action = "/orders/"; form.method = "get";
          form.innerHTML = '<button type="submit" data-confirm="Sure?">Go</button>';
          form.addEventListener("submit", (event) => { event.preventDefault(); window.__submitted = true; });
          document.querySelector("main").append(form);
        }"""
    )
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("button[data-confirm]")
    assert questions == ["Sure?"]
    assert page.evaluate("() => window.__submitted") is None  # dismissed: nothing submitted

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-confirm]")
    assert page.evaluate("() => window.__submitted") is True

    page.select_option("form.lang select[name=language]", "zh-hans")  # data-submit-on-change
    page.wait_for_selector("html[lang=zh-hans]")
    assert violations(page) == []
