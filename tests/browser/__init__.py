"""Browser tests: headless Debian Chromium driven by Playwright against pytest-django's live server."""
