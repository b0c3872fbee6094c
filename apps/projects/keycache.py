"""A few seconds of in-process memory of valid API keys, so a busy exporter does not hit the database per request.

Keyed by the SHA-256 of the plaintext (the stored digest), so a hit is as good as the hash comparison.
An entry lives `ttl` seconds from the moment it was read from the database: a revoked (or deleted) key
keeps working in a process for at most that long. Only active keys are remembered; unknown or revoked
keys always go to the database. Each hit hands out fresh model instances, never a shared one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.projects.models import ApiKey, Project

# Revocation takes effect within this many seconds in every process.
KEY_CACHE_TTL_SECONDS = 5.0
_MAX_ENTRIES = 1024

_KEY_ATTNAMES = tuple(f.attname for f in ApiKey._meta.concrete_fields)
_PROJECT_ATTNAMES = tuple(f.attname for f in Project._meta.concrete_fields)


@dataclass
class _Entry:
    expires: float
    key_values: tuple[Any, ...]
    project_values: tuple[Any, ...]
    last_used_at: datetime | None


class KeyCache:
    """digest → the key's and its project's column values, until `ttl` seconds after they were read."""

    def __init__(self, ttl: float = KEY_CACHE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, digest: str) -> ApiKey | None:
        """A fresh ApiKey (with its project) for a remembered active key, or None (miss or expired)."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self.clock() >= entry.expires:
            self._entries.pop(digest, None)
            return None
        row = ApiKey.from_db(None, _KEY_ATTNAMES, entry.key_values)
        row.last_used_at = entry.last_used_at
        row.project = Project.from_db(None, _PROJECT_ATTNAMES, entry.project_values)
        return row

    def put(self, digest: str, row: ApiKey) -> None:
        """Remember an active key read from the database just now (with its project loaded)."""
        if row.revoked_at is not None:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = _Entry(
            expires=self.clock() + self.ttl,
            key_values=tuple(getattr(row, name) for name in _KEY_ATTNAMES),
            project_values=tuple(getattr(row.project, name) for name in _PROJECT_ATTNAMES),
            last_used_at=row.last_used_at,
        )

    def used(self, digest: str, when: datetime) -> None:
        """Record that last_used_at was written (so hits skip the write until it is a minute old)."""
        entry = self._entries.get(digest)
        if entry is not None:
            entry.last_used_at = when

    def clear(self) -> None:
        self._entries.clear()


# The process-wide cache used by api_key_authenticate(..., cached=True).
key_cache = KeyCache()
