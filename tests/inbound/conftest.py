"""The inbox fixtures live in tests/fixtures/inbox.py (a plugin, so API and web tests can deliver mail too)."""

from tests.fixtures.inbox import Inbox, make_mail

__all__ = ["Inbox", "make_mail"]
