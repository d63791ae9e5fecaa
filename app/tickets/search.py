"""Full-text search over a tenant's mail: PostgreSQL's text search on a stored, indexed column, LIKE elsewhere.

``messages.search_words`` (PostgreSQL only, migration 0008) is a generated column holding ``INDEXED_DOCUMENT``, with
a GIN index on it. It is not declared on the model: SQLite has no tsvector, and the ORM never writes it. The
``simple`` configuration does not stem: tenants write in many languages, and a German stemmer on Japanese mail helps
nobody.
"""

from __future__ import annotations

CONFIG = "simple"
# Capped: a tsvector holds at most 1 MB, and a 20 MB text body must not make its message unsearchable (or unsaved).
INDEXED_DOCUMENT = "to_tsvector('simple'::regconfig, left(coalesce(subject, '') || ' ' || coalesce(text, ''), 200000))"
DOCUMENT = "messages.search_words"
