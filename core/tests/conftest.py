from core.tests.browser import browser, desk  # noqa: F401  (browser fixtures for core's tests)
