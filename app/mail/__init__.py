"""Mail protocol code: plain functions and dataclasses, no Flask, no database.

- ``netguard``: SSRF guard (resolve, refuse non-global addresses, connect to the checked address);
- ``tls``: client contexts, certificate summaries, TLS error classification;
- ``probe``: the step-by-step connection test (``Endpoint``, ``StepResult``, ``CATEGORIES``, ``probe``);
- ``sessions``: ``open_imap`` / ``open_pop3`` / ``open_smtp`` for jobs, on the same steps;
- ``steps``, ``transport``, ``imap``, ``pop3``, ``smtp``: the shared machinery behind those two.
"""
