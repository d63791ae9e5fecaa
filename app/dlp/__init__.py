"""Data-loss prevention: tenant rules that block or redact outgoing mail (card numbers, IBANs, passwords, regexes)."""
