"""`manage.py check --deploy` is clean with production settings, and nothing starts without a real SECRET_KEY (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without test-only switches, plus production settings."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**env, **overrides}


def test_check_deploy_is_clean_with_production_variables():
    env = production_env(
        **{
            "SECRET_KEY": "k3J9-vQ2_pLm8ZxR7tWb4NcYh6Fs1DgUe0aKoPiXjEnTqMr5S-w8Hy2Lc4Vb7Nm",
            "ALLOWED_HOSTS": "sightline.example.com",
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "true",
            "SECURE_HSTS_SECONDS": "31536000",
            "SECURE_HSTS_PRELOAD": "true",
            "SESSION_COOKIE_SECURE": "true",
            "CSRF_COOKIE_SECURE": "true",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def run_setup(**env: str) -> subprocess.CompletedProcess[str]:
    """Start Django (`django.setup()`) in a fresh interpreter with the given variables."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=production_env(DJANGO_SETTINGS_MODULE="config.settings", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("secret_key", ["", "django-insecure-sightline-local-key-change-me-in-production-0123456789"])
def test_without_a_real_secret_key_processes_refuse_to_start(secret_key):
    # An empty variable wins over any SECRET_KEY in .env, so this is the "not set" case.
    result = run_setup(SECRET_KEY=secret_key, SECRET_KEY_FILE="", DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set SECRET_KEY" in result.stderr  # says what to set
    assert "started" not in result.stdout


def test_debug_starts_without_a_secret_key():
    result = run_setup(SECRET_KEY="", SECRET_KEY_FILE="", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_check_deploy_refuses_a_missing_secret_key():
    env = production_env(SECRET_KEY="", DEBUG="false", ALLOWED_HOSTS="sightline.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stdout + result.stderr
