"""Outgoing webhooks: signed event deliveries to tenants' endpoints, at least once, with a log and replays."""
