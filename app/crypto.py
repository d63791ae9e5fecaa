"""Secrets at rest: Fernet encryption under ``POSTROOM_ENCRYPTION_KEYS`` (newest key first).

Columns typed ``EncryptedText`` are encrypted on write and decrypted on read. Rotation: put a new key first, run
``flask --app wsgi keys rotate`` (old keys still decrypt meanwhile, so nothing stops), then drop the old keys.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, TypeDecorator, select, type_coerce, update

from app.extensions import db


class SecretUnreadable(RuntimeError):
    """A stored secret decrypts under none of the configured keys (a key was dropped too early)."""


def _fernet() -> MultiFernet:
    keys = current_app.config["ENCRYPTION_KEYS"]
    cached = current_app.extensions.get("postroom_fernet")
    if cached is None or cached[0] != keys:
        cached = (keys, MultiFernet([Fernet(k) for k in keys]))
        current_app.extensions["postroom_fernet"] = cached
    return cached[1]


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with the configured keys") from None


class EncryptedText(TypeDecorator):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, _dialect) -> str | None:
        return encrypt(value) if value is not None else None

    def process_result_value(self, value: str | None, _dialect) -> str | None:
        return decrypt(value) if value is not None else None


def encrypted_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                yield table, column


def rotate_all() -> int:
    """Re-encrypt every stored secret under the newest key; returns how many values were rewritten."""
    fernet, count = _fernet(), 0
    for table, column in encrypted_columns():
        raw = type_coerce(column, Text)
        (pk,) = table.primary_key.columns
        for row_id, token in db.session.execute(select(pk, raw).where(column.is_not(None))):
            try:
                rotated = fernet.rotate(token.encode()).decode()
            except InvalidToken:
                raise SecretUnreadable(f"{table.name}.{column.name} of row {row_id} cannot be decrypted") from None
            # Compare-and-swap: a value a worker changed meanwhile (a refresh token it just rotated) is left alone;
            # it was written with the newest key anyway.
            result = db.session.execute(update(table).where(pk == row_id, raw == token)
                                        .values({column.name: type_coerce(rotated, Text)}))
            count += result.rowcount
    db.session.commit()
    return count
