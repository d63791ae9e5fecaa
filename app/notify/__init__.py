"""Notification templates: per tenant, event and locale, rendered in a sandbox, edited with a live preview."""
