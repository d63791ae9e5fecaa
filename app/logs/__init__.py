"""The communication log and the audit log as tenants read them: searchable, exportable as CSV, and kept only as
long as the tenant says."""
