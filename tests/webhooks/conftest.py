"""The receiver fixture lives in tests/fixtures/webhooks.py (a plugin, so web tests can use it too)."""
