"""Fuzz every API operation against its own OpenAPI schema: no 5xx, and every answer inside the schema.

schemathesis drives the WSGI app in process (positive and negative cases, derandomized), with the real database
inside the test's transaction. Bounded to about a minute: a few examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from apps.projects.services import api_key_create, project_create
from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def write_key(db) -> Iterator[str]:
    """A project and its write key; WSGI requests share the test's transaction, as with Django's test client."""
    project = project_create(name="Fuzzed")
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield api_key_create(project=project, name="fuzz").plaintext
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_answers_inside_its_schema(case, write_key):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {write_key}"},
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_the_schema_covers_every_operation_and_its_errors():
    operations = [op.ok() for op in schema.get_all_operations()]
    # feedback: 1; review: rules (list, add, get, change) and items; langfuse: 2; metrics: 1; slis: 13;
    # datasets: 8 (datasets list/create/get, items, export; offline-runs list/create/get)
    # judges: 6, get, change, test connection, calibrate, agreement, promote a version
    assert len(operations) == 49
    for operation in operations:
        codes = set(operation.definition.raw["responses"])
        assert {"401", "403", "503"} <= codes, operation.label
        if operation.method.upper() in {"POST", "PUT"}:
            assert {"400", "413", "415"} <= codes, operation.label
        if "{" in operation.path:
            assert "404" in codes, operation.label
