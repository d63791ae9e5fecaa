"""Regions: where a tenant's jobs run, which mail gateways it uses and where its mail is stored.

``POSTROOM_REGIONS`` is JSON (inline or a path to a file)::

    {"eu": {"redis_url": "redis://eu-redis:6379/0", "blob_root": "/srv/eu/blobs",
            "smtp_relay": {"host": "relay.eu.example", "port": 587}},
     "us": {...}}

Omitted fields fall back to the platform defaults (``POSTROOM_REDIS_URL``, ``POSTROOM_BLOB_ROOT``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

QUEUE_KINDS = ("poll", "ingest", "deliver", "webhooks", "default")
DEFAULT_REGION = "default"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class RegionError(ValueError):
    pass


@dataclass(frozen=True)
class Region:
    name: str
    redis_url: str
    blob_root: str
    smtp_relay: dict = field(default_factory=dict)

    def queue_name(self, kind: str) -> str:
        if kind not in QUEUE_KINDS:
            raise RegionError(f"unknown queue kind {kind!r}")
        return f"{self.name}:{kind}"

    @property
    def queue_names(self) -> list[str]:
        return [self.queue_name(kind) for kind in QUEUE_KINDS]


def _load_raw(spec: str | None) -> dict:
    if not spec:
        return {DEFAULT_REGION: {}}
    inline = spec.lstrip().startswith(("{", "["))
    try:
        text = spec if inline else Path(spec).read_text()
    except OSError as exc:
        raise RegionError(f"POSTROOM_REGIONS names a file that cannot be read: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegionError(f"POSTROOM_REGIONS is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise RegionError("POSTROOM_REGIONS must be a non-empty JSON object of regions")
    return raw


def parse_regions(spec: str | None, *, redis_url: str, blob_root: str) -> dict[str, Region]:
    regions = {}
    for name, options in _load_raw(spec).items():
        if not _NAME.match(name) or not isinstance(options, dict):
            raise RegionError(f"bad region {name!r}: names are lower-case words, options an object")
        regions[name] = Region(
            name=name,
            redis_url=options.get("redis_url", redis_url),
            blob_root=options.get("blob_root", str(Path(blob_root) / name)),
            smtp_relay=options.get("smtp_relay", {}),
        )
    return regions


def init_regions(app: Flask) -> None:
    app.extensions["postroom_regions"] = parse_regions(
        app.config["REGIONS"], redis_url=app.config["REDIS_URL"], blob_root=app.config["BLOB_ROOT"]
    )


def all_regions() -> dict[str, Region]:
    return current_app.extensions["postroom_regions"]


def get_region(name: str) -> Region:
    try:
        return all_regions()[name]
    except KeyError:
        raise RegionError(f"unknown region {name!r}; known: {', '.join(all_regions())}") from None
