"""Inbound callbacks under ``/hooks/``: a mail server's or provider's way of saying "new mail, sync now"."""
