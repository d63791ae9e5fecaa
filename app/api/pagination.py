"""Page-number pagination shared by every list endpoint: ``?page=&per_page=``, and a ``meta`` block."""

from __future__ import annotations

import marshmallow as ma
from sqlalchemy import Select, func, select

from app.extensions import db

MAX_PER_PAGE = 100
# Far beyond any real list, and small enough that (page - 1) * per_page stays a valid SQL OFFSET.
MAX_PAGE = 1_000_000


class PageArgsSchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    per_page = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


class PageMetaSchema(ma.Schema):
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A ``{"items": [...], "meta": {...}}`` envelope schema for ``item_schema``."""
    return ma.Schema.from_dict({"items": ma.fields.List(ma.fields.Nested(item_schema)),
                                "meta": ma.fields.Nested(PageMetaSchema)}, name=name)


def paginate(query: Select, *, page: int, per_page: int) -> dict:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "meta": {"page": page, "per_page": per_page, "total": total,
                                     "pages": (total + per_page - 1) // per_page}}
