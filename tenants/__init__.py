"""Tenants: the tenant model, the current-tenant context, scoping, resolution from URLs, and regions.

Nothing outside this package reads the tenant slug from a URL. This package imports only the shared ``db``.
"""
