"""A tenant's health at a glance: mailboxes, queues, quarantine, outbox and webhooks."""
