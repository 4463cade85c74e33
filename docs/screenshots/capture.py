"""Capture the README's screenshots from a running demo (`make run`, then in another shell:
`.venv/bin/python docs/screenshots/capture.py [http://127.0.0.1:8000]`). Uses Debian's Chromium."""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).parent
PASSWORD = "conduit-demo"


def sign_in(page, username):
    page.context.clear_cookies()
    page.goto(f"{BASE}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.nav")


def shot(page, name, full_page=False):
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)


with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")

    sign_in(page, "manager")
    page.goto(f"{BASE}/dashboard/")
    page.wait_for_selector("body[data-charts-ready=true]")
    shot(page, "dashboard", full_page=True)

    page.goto(f"{BASE}/orders/?status=partially_shipped")
    page.locator("table.grid tbody a").first.click()
    page.wait_for_selector("ol.timeline")
    shot(page, "order-detail", full_page=True)

    page.goto(f"{BASE}/")
    shot(page, "start-page")

    sign_in(page, "warehouse")
    page.goto(f"{BASE}/fulfilment/shipments/")
    shot(page, "shipment-queue")
    page.locator("table.grid tbody a").first.click()
    page.locator("input.scan-input").fill("NOT-IN-THIS-PARCEL")
    page.locator("input.scan-input").press("Enter")
    page.wait_for_selector("ul.messages li.error")
    shot(page, "scan-to-pack")

    sign_in(page, "agent")
    page.select_option("form.lang select[name=language]", "zh-hans")
    page.wait_for_selector("html[lang=zh-hans]")
    page.goto(f"{BASE}/orders/")
    shot(page, "orders-zh-hans")
    browser.close()
