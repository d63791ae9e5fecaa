"""Full-text search over a tenant's mail: PostgreSQL's text search on an expression index, LIKE elsewhere.

The index (migration 0006) is on exactly ``DOCUMENT``; a query must repeat the expression verbatim (as SQL text, not
bound parameters) for PostgreSQL to use it. The ``simple`` configuration does not stem: tenants write in many
languages, and a German stemmer on Japanese mail helps nobody.
"""

from __future__ import annotations

CONFIG = "simple"
# Capped: a tsvector holds at most 1 MB, and a 20 MB text body must not make its message unsearchable (or unsaved).
INDEXED_DOCUMENT = "to_tsvector('simple'::regconfig, left(coalesce(subject, '') || ' ' || coalesce(text, ''), 200000))"
DOCUMENT = INDEXED_DOCUMENT.replace("(subject,", "(messages.subject,").replace("(text,", "(messages.text,")
