import pytest


@pytest.fixture
def mailbox_form(dovecot, smtp_server, mail_user, mail_ca):
    """Portal form data for a mailbox on the test stack: IMAPS with the stack's CA, SMTP with STARTTLS."""

    def make(**overrides) -> dict:
        return {
            "name": "Support", "address": "support@acme.test", "default_queue_id": "",
            "inbound_protocol": "imap", "inbound_host": dovecot.host, "inbound_port": str(dovecot.imaps_port),
            "inbound_security": "tls", "inbound_username": mail_user.email, "inbound_password": mail_user.password,
            "folders": "INBOX", "after_fetch": "keep", "sync_mode": "poll", "poll_interval": "60",
            "ca_pem": mail_ca.read_text(), "outbound_mode": "own", "outbound_host": smtp_server.host,
            "outbound_port": str(smtp_server.port), "outbound_security": "starttls",
            "outbound_username": mail_user.email, "outbound_password": mail_user.password, **overrides,
        }

    return make
