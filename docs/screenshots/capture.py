"""Capture the documentation's screenshots from a running demo (`make run`, then in another shell:
`.venv/bin/python docs/screenshots/capture.py [http://127.0.0.1:8000]`). Uses Debian's Chromium.

The main screens in English and Chinese at desk width (1440 px), and the warehouse screens at a
handheld's width (412 px). docs/screenshots/README.md lists them."""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).parent
PASSWORD = "conduit-demo"
DESK = {"width": 1440, "height": 900}
PHONE = {"width": 412, "height": 915}


def sign_in(page, username, language="en"):
    page.context.clear_cookies()
    page.goto(f"{BASE}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    if language != "en":  # what the language switch in the header stores
        page.context.add_cookies([{"name": "django_language", "value": language, "url": BASE}])
        page.reload()
        page.wait_for_selector(f"html[lang={language}]", state="attached")


def shot(page, name, full_page=False):
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)


def first_link(page, path, name, full_page=True):
    """Open the list at `path`, then its first row's page."""
    page.goto(f"{BASE}{path}")
    page.locator("table.grid tbody a").first.click()
    page.wait_for_load_state("networkidle")
    shot(page, name, full_page=full_page)


def desk_screens(page, suffix):
    sign_in(page, "manager", "zh-hans" if suffix else "en")
    page.goto(f"{BASE}/dashboard/")
    page.wait_for_selector("body[data-charts-ready=true]")
    shot(page, f"dashboard{suffix}", full_page=True)
    page.goto(f"{BASE}/")
    shot(page, f"start-page{suffix}")
    first_link(page, "/orders/?status=partially_shipped", f"order-detail{suffix}")
    first_link(page, "/returns/", f"rma-detail{suffix}")
    first_link(page, "/b2b/contracts/", f"b2b-contract{suffix}")
    first_link(page, "/purchasing/", f"purchase-order{suffix}")
    page.goto(f"{BASE}/finance/reconciliation/")
    shot(page, f"reconciliation{suffix}", full_page=True)
    page.goto(f"{BASE}/orders/")
    shot(page, f"orders{suffix}")


with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])

    page = browser.new_page(viewport=DESK, locale="en-US")
    desk_screens(page, "")
    desk_screens(page, "-zh-hans")
    page.close()

    phone = browser.new_page(viewport=PHONE, locale="en-US", has_touch=True)
    sign_in(phone, "warehouse")
    phone.goto(f"{BASE}/fulfilment/shipments/")
    shot(phone, "phone-shipment-queue")
    phone.locator("table.grid tbody a").first.click()
    phone.locator("input.scan-input").fill("NOT-IN-THIS-PARCEL")
    phone.locator("input.scan-input").press("Enter")
    phone.wait_for_selector("ul.messages li.error")
    shot(phone, "phone-scan-to-pack", full_page=True)
    phone.goto(f"{BASE}/purchasing/receiving/")
    shot(phone, "phone-receive-purchases", full_page=True)
    sign_in(phone, "warehouse", "zh-hans")
    phone.goto(f"{BASE}/")
    shot(phone, "phone-start-page-zh-hans", full_page=True)
    browser.close()
