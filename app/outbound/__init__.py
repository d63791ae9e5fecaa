"""Outbound mail: the outbox (a durable row per mail), its delivery over SMTP with retries, and the throttles."""
