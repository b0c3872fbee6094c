"""The in-process API key cache of the OTLP receivers: hits skip the database, revocation wins at once everywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.projects import keycache
from apps.projects.models import ApiKey
from apps.projects.services import (
    LAST_USED_RESOLUTION,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    key_hash,
)
from apps.traces.otlp import PROTOBUF_CONTENT_TYPE


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(keycache, "key_cache", keycache.KeyCache(clock=fake))
    return fake


def test_a_hit_skips_the_database_and_hands_out_fresh_instances(project, clock, django_assert_num_queries):
    issued = api_key_create(project=project, name="ingest")
    first = api_key_authenticate(plaintext=issued.plaintext, cached=True)
    assert first is not None and first.project == project
    with django_assert_num_queries(0):
        second = api_key_authenticate(plaintext=issued.plaintext, cached=True)
    assert second is not None and second is not first and second.project is not first.project
    assert (second.id, second.scope, second.project.id, second.project.slug) == (
        issued.api_key.id, issued.api_key.scope, project.id, project.slug,
    )  # fmt: skip


def test_revocation_takes_effect_at_once_in_every_process(project, clock, monkeypatch, django_assert_num_queries):
    """Two independent caches (two processes) share only Redis: a revocation ends both caches' hits."""
    issued = api_key_create(project=project, name="ingest")
    first, second = keycache.KeyCache(clock=clock), keycache.KeyCache(clock=clock)
    for cache in (first, second):
        monkeypatch.setattr(keycache, "key_cache", cache)
        assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
        with django_assert_num_queries(0):  # a real hit: only the Redis generation is read
            assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
    api_key_revoke(project=project, api_key_id=issued.api_key.id)
    # No clock advance: well inside the TTL, neither process serves the key any more.
    for cache in (first, second):
        monkeypatch.setattr(keycache, "key_cache", cache)
        assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is None
    assert api_key_authenticate(plaintext=issued.plaintext) is None


def test_a_generation_bump_elsewhere_invalidates_this_process(project, clock):
    issued = api_key_create(project=project, name="ingest")
    assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
    # Another process revoked it: the row changed and the shared generation moved on.
    ApiKey.objects.filter(id=issued.api_key.id).update(revoked_at=timezone.now())
    keycache.api_keys_generation_bump()
    assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is None


def test_without_redis_every_lookup_reads_the_database(project, monkeypatch, django_assert_num_queries):
    unreachable = keycache.KeyCache(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr(keycache, "key_cache", unreachable)
    assert keycache.api_keys_generation("redis://127.0.0.1:1/0") is None
    issued = api_key_create(project=project, name="ingest")
    assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
    with django_assert_num_queries(1):  # not served from memory: the database is asked again
        assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
    api_key_revoke(project=project, api_key_id=issued.api_key.id)
    assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is None


def test_an_entry_still_expires_after_the_ttl(project, clock, django_assert_num_queries):
    issued = api_key_create(project=project, name="ingest")
    assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
    clock.now += keycache.KEY_CACHE_TTL_SECONDS
    with django_assert_num_queries(1):
        assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None


def test_wrong_keys_are_never_cached(project, clock):
    issued = api_key_create(project=project, name="ingest")
    tampered = issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")
    assert api_key_authenticate(plaintext=tampered, cached=True) is None
    assert api_key_authenticate(plaintext=tampered, cached=True) is None
    assert api_key_authenticate(plaintext="", cached=True) is None


def test_last_used_at_still_written_at_most_once_a_minute(project, clock, django_assert_num_queries):
    issued = api_key_create(project=project, name="ingest")
    assert api_key_authenticate(plaintext=issued.plaintext, cached=True) is not None
    stamped = ApiKey.objects.get(id=issued.api_key.id).last_used_at
    assert stamped is not None
    with django_assert_num_queries(0):
        api_key_authenticate(plaintext=issued.plaintext, cached=True)
    # A minute later (the entry still cached): one UPDATE, then none again.
    long_ago = stamped - LAST_USED_RESOLUTION - timedelta(seconds=1)
    ApiKey.objects.filter(id=issued.api_key.id).update(last_used_at=long_ago)
    keycache.key_cache.used(key_hash(issued.plaintext), long_ago)
    with django_assert_num_queries(1):
        row = api_key_authenticate(plaintext=issued.plaintext, cached=True)
    assert row is not None and timezone.now() - row.last_used_at < timedelta(seconds=5)
    assert ApiKey.objects.get(id=issued.api_key.id).last_used_at > stamped - LAST_USED_RESOLUTION
    with django_assert_num_queries(0):
        api_key_authenticate(plaintext=issued.plaintext, cached=True)


def test_otlp_receiver_rejects_a_revoked_key_at_once(client, project, clock):
    issued = api_key_create(project=project, name="ingest")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issued.plaintext}"}
    ok = client.post("/v1/traces", data=b"", content_type=PROTOBUF_CONTENT_TYPE, **headers)
    assert ok.status_code != 401  # authenticated (an empty body is then refused for its own reasons)
    api_key_revoke(project=project, api_key_id=issued.api_key.id)
    denied = client.post("/v1/traces", data=b"", content_type=PROTOBUF_CONTENT_TYPE, **headers)
    assert denied.status_code == 401
