"""Fixtures for the platform tests: load platform/runner.py without a `platform` package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_module(name: str, path: Path) -> ModuleType:
    """Import a file from platform/ under a private module name (platform/ has no __init__.py)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of the tests that start real embedded servers (they run in CI too)."""
    config.addinivalue_line(
        "markers", "embedded_servers: starts the embedded PostgreSQL/Redis from the wheels (slow-ish, runs in CI)"
    )


@pytest.fixture(scope="session")
def runner() -> ModuleType:
    """Return platform/runner.py loaded as `sightline_runner`."""
    return load_module("sightline_runner", REPO / "platform" / "runner.py")


@pytest.fixture(scope="session")
def healthcheck() -> ModuleType:
    """Return platform/healthcheck.py loaded as `sightline_healthcheck`."""
    return load_module("sightline_healthcheck", REPO / "platform" / "healthcheck.py")
