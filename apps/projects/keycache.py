"""A few seconds of in-process memory of valid API keys, so a busy exporter does not hit the database per request.

Keyed by the SHA-256 of the plaintext (the stored digest), so a hit is as good as the hash comparison.
Revocation is immediate on every process: each entry is tagged with the key-cache generation, a counter
in Redis that `api_keys_generation_bump()` increments whenever a key is revoked. Every lookup reads the
counter (one GET) and serves an entry only if it was cached under the current generation. When Redis
cannot be reached the cache is not used at all and every lookup goes to the database.

An entry also expires `ttl` seconds after it was read from the database (the upper bound on staleness for
anything that does not bump the generation). Only active keys are remembered; unknown or revoked keys
always go to the database. Each hit hands out fresh model instances, never a shared one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from django.conf import settings

from apps.projects.models import ApiKey, Project

logger = logging.getLogger(__name__)

# Entries older than this are re-read from the database even without a revocation.
KEY_CACHE_TTL_SECONDS = 5.0
_MAX_ENTRIES = 1024
# The shared counter; a revocation anywhere increments it, and every process compares it per lookup.
GENERATION_KEY = "sightline:api-key-cache:generation"
# A slow Redis must not slow ingest down: past this, the lookup goes to the database instead.
_REDIS_TIMEOUT_SECONDS = 0.25

_KEY_ATTNAMES = tuple(f.attname for f in ApiKey._meta.concrete_fields)
_PROJECT_ATTNAMES = tuple(f.attname for f in Project._meta.concrete_fields)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis(url: str | None) -> redis.Redis:
    """Return a shared Redis client with short timeouts for the URL (settings.REDIS_URL by default)."""
    url = url or settings.REDIS_URL
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=_REDIS_TIMEOUT_SECONDS, socket_timeout=_REDIS_TIMEOUT_SECONDS
            )
            _clients[url] = client
        return client


def api_keys_generation(redis_url: str | None = None) -> int | None:
    """Return the current key-cache generation (0 when never bumped), or None when Redis is unreachable."""
    try:
        raw = _redis(redis_url).get(GENERATION_KEY)
    except redis.RedisError:
        return None
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return None


def api_keys_generation_bump(redis_url: str | None = None) -> None:
    """Invalidate every process's cached keys (called after a revocation); logs when Redis is down."""
    try:
        _redis(redis_url).incr(GENERATION_KEY)
    except redis.RedisError:
        # Processes that cannot reach Redis either do not cache; the others keep entries at most the TTL.
        logger.exception("could not bump the API key cache generation; revocation may take %ss", KEY_CACHE_TTL_SECONDS)


@dataclass
class _Entry:
    expires: float
    generation: int
    key_values: tuple[Any, ...]
    project_values: tuple[Any, ...]
    last_used_at: datetime | None


@dataclass(frozen=True)
class Lookup:
    """A cache lookup: the row on a hit, and the generation to tag a fresh database read with (None: do not cache)."""

    row: ApiKey | None
    generation: int | None


class KeyCache:
    """digest → the key's and its project's column values, valid while the Redis generation is unchanged."""

    def __init__(
        self,
        ttl: float = KEY_CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        redis_url: str | None = None,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.redis_url = redis_url
        self._entries: dict[str, _Entry] = {}

    def lookup(self, digest: str) -> Lookup:
        """Return a fresh ApiKey (with its project) for a remembered key of the current generation, or a miss."""
        generation = api_keys_generation(self.redis_url)
        if generation is None:  # Redis down: no cache, the database decides
            return Lookup(row=None, generation=None)
        entry = self._entries.get(digest)
        if entry is None:
            return Lookup(row=None, generation=generation)
        if entry.generation != generation or self.clock() >= entry.expires:
            self._entries.pop(digest, None)
            return Lookup(row=None, generation=generation)
        row = ApiKey.from_db(None, _KEY_ATTNAMES, entry.key_values)
        row.last_used_at = entry.last_used_at
        row.project = Project.from_db(None, _PROJECT_ATTNAMES, entry.project_values)
        return Lookup(row=row, generation=generation)

    def put(self, digest: str, row: ApiKey, generation: int | None) -> None:
        """Remember an active key read from the database after `lookup` saw `generation` (None: do not cache)."""
        if row.revoked_at is not None or generation is None:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = _Entry(
            expires=self.clock() + self.ttl,
            generation=generation,
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
