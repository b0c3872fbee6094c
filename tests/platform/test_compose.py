"""docker-compose.yml, the Dockerfile and the Procfile describe the same processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")
QUEUES = "ingest,evaluations,judge,alerts,default"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """Return docker-compose.yml parsed (YAML merge keys resolved)."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    """Return the services mapping."""
    return compose["services"]


def command_text(service: dict[str, Any]) -> str:
    """Return a service's command as one string, whichever YAML form it uses."""
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_has_the_five_services_and_an_optional_pooler(services: dict[str, Any]) -> None:
    assert {name for name, service in services.items() if not service.get("profiles")} == {
        "db",
        "redis",
        "web",
        "worker",
        "beat",
    }
    assert services["pgbouncer"]["profiles"] == ["pooler"]


def test_compose_pooler_profile_runs_debian_pgbouncer_in_transaction_mode(services: dict[str, Any]) -> None:
    pooler = services["pgbouncer"]
    dockerfile = (REPO / pooler["build"]["dockerfile"]).read_text()
    assert "apt-get install -y --no-install-recommends pgbouncer" in dockerfile and "\nUSER postgres" in dockerfile
    ini = (REPO / "platform" / "pgbouncer" / "pgbouncer.ini").read_text()
    assert "pool_mode = transaction" in ini and "host=db port=5432" in ini and "listen_port = 6432" in ini
    assert pooler["depends_on"]["db"]["condition"] == "service_healthy"
    assert pooler["environment"]["POSTGRES_PASSWORD"] == services["db"]["environment"]["POSTGRES_PASSWORD"]
    # The app services reach it by host/port and turn on the pooled database settings with it.
    env = services["web"]["environment"]
    assert "@${DATABASE_HOST:-db}:${DATABASE_PORT:-5432}/" in env["DATABASE_URL"]
    assert env["DATABASE_POOLED"] == "${DATABASE_POOLED:-false}"


@pytest.mark.parametrize("name", ["db", "redis", "pgbouncer", *APP_SERVICES])
def test_compose_restarts_every_service_unless_stopped(services: dict[str, Any], name: str) -> None:
    # A crashed worker (or database) comes back by itself; `docker compose stop` still stops it.
    assert services[name]["restart"] == "unless-stopped"


def test_compose_uses_postgres_16_and_redis_7(services: dict[str, Any]) -> None:
    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_compose_keeps_the_database_in_a_named_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    volume, _, target = services["db"]["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]
    assert not volume.startswith((".", "/"))  # a named volume, not a bind mount


def test_compose_healthchecks_db_and_redis(services: dict[str, Any]) -> None:
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_builds_app_services_from_the_platform_dockerfile(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == "platform/Dockerfile"
    assert (REPO / build["context"] / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_app_services_get_urls_secret_and_hosts(services: dict[str, Any], name: str) -> None:
    env = services[name]["environment"]
    assert (
        env["DATABASE_URL"].startswith("postgres://")
        and "@${DATABASE_HOST:-db}:${DATABASE_PORT:-5432}/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # no default secret: compose refuses to start
    assert "ALLOWED_HOSTS" in env


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_app_services_wait_for_healthy_db_and_redis(services: dict[str, Any], name: str) -> None:
    depends = services[name]["depends_on"]
    assert depends["db"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_compose_worker_and_beat_wait_for_migrated_web(services: dict[str, Any], name: str) -> None:
    assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"


def test_compose_web_migrates_then_serves_with_gunicorn(services: dict[str, Any]) -> None:
    command = command_text(services["web"])
    assert command.index("manage.py migrate --noinput") < command.index("gunicorn -c platform/gunicorn.conf.py")
    assert "config.wsgi:application" in command
    assert services["web"]["environment"]["HOST"] == "0.0.0.0"


def test_compose_web_healthcheck_hits_healthz(services: dict[str, Any]) -> None:
    test = services["web"]["healthcheck"]["test"]
    assert test == ["CMD", "python", "platform/healthcheck.py"]
    assert "/healthz" in (REPO / "platform" / "healthcheck.py").read_text()


def test_compose_worker_consumes_every_queue(services: dict[str, Any]) -> None:
    command = command_text(services["worker"])
    assert command.startswith("celery -A config worker")
    assert f"-Q {QUEUES}" in command


def test_compose_beat_runs_celery_beat_with_a_writable_schedule(services: dict[str, Any]) -> None:
    command = command_text(services["beat"])
    assert command.startswith("celery -A apps.core.beat beat")
    assert "--schedule /app/.data/celerybeat-schedule" in command
    assert "chown sightline:sightline /app/.data" in (REPO / "platform" / "Dockerfile").read_text()


def test_dockerfile_builds_a_non_root_gunicorn_image() -> None:
    dockerfile = (REPO / "platform" / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install -r" in dockerfile
    assert "collectstatic --noinput" in dockerfile and "SECRET_KEY=" in dockerfile
    assert "\nUSER sightline" in dockerfile
    assert 'CMD ["gunicorn", "-c", "platform/gunicorn.conf.py", "config.wsgi:application"]' in dockerfile


def test_procfile_matches_the_contract() -> None:
    lines = dict(line.split(": ", 1) for line in (REPO / "platform" / "Procfile").read_text().splitlines() if line)
    assert list(lines) == ["web", "worker", "beat"]
    assert lines["web"] == "gunicorn -c platform/gunicorn.conf.py config.wsgi:application"
    assert lines["worker"] == f"celery -A config worker -l info -Q {QUEUES} --concurrency 2"
    assert lines["beat"] == "celery -A apps.core.beat beat -l info --schedule .data/celerybeat-schedule"


def test_env_example_lists_every_variable_with_a_comment() -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    required = {
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "HOST",
        "PORT",
        "WEB_CONCURRENCY",
        "JUDGE_BASE_URL",
        "JUDGE_API_KEY",
        "JUDGE_MODEL",
        "OTLP_MAX_BODY_BYTES",
        "OTLP_MAX_DECOMPRESSED_BYTES",
    }
    keys = {}
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            keys[line.split("=", 1)[0]] = index
    assert required <= set(keys)
    for index in keys.values():
        assert lines[index - 1].startswith("# ")  # each variable has its comment line


def test_env_example_lists_every_variable_the_settings_read() -> None:
    import re

    # Settings, and the apps' code too (seed_demo reads the admin login through the same helpers).
    sources = [REPO / "config" / "settings.py", *sorted((REPO / "apps").rglob("*.py"))]
    text = "\n".join(path.read_text() for path in sources)
    read = set(re.findall(r'\benv(?:_bool|_int|_secret|_list)?\("([A-Z_]+)"', text))
    read |= set(re.findall(r'os\.environ(?:\.get\(|\[)"([A-Z_]+)"', text))
    listed = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert read, "the pattern found no env reads in settings.py"
    assert read - listed == set()


def test_web_defaults_have_one_source() -> None:
    """README's table and .env.example agree with gunicorn.conf.py's WEB_DEFAULTS (.env.example leaves them empty)."""
    import re
    import runpy

    defaults = runpy.run_path(str(REPO / "platform" / "gunicorn.conf.py"))["WEB_DEFAULTS"]
    readme = (REPO / "README.md").read_text()
    documented = dict(re.findall(r"^\| `(WEB_[A-Z_]+)` \| `([^`]*)` \|", readme, flags=re.MULTILINE))
    assert documented, "the README's configuration table lists no WEB_* variable"
    for name, value in documented.items():
        assert defaults[name] == value, (
            f"README says {name} defaults to {value}; gunicorn.conf.py says {defaults[name]}"
        )
    example = dict(
        line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines() if line.startswith("WEB_")
    )
    assert all(example[name] == "" for name in defaults if name in example), example


SCALE_POOLS = ("worker-ingest", "worker-evaluations", "worker-judge", "worker-alerts", "worker-default")


def routed_queues() -> set[str]:
    """Return every queue a task can land on: config/schedule.py's routes plus the default queue."""
    from django.conf import settings

    from config.celery import app

    return {route["queue"] for route in app.conf.task_routes.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}


def test_compose_scale_profile_has_web_replicas_a_balancer_and_a_pool_per_queue(services: dict[str, Any]) -> None:
    scale = {name for name, service in services.items() if service.get("profiles") == ["scale"]}
    assert scale == {"web-pool", "lb", *SCALE_POOLS}
    assert services["web-pool"]["deploy"]["replicas"] == "${WEB_REPLICAS:-3}"
    # Replicas share the balancer's port: none publishes its own, and only `web` migrates.
    assert "ports" not in services["web-pool"]
    assert "migrate" not in command_text(services["web-pool"])
    assert services["web-pool"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert services["lb"]["ports"] == ["${SCALE_PUBLISH_PORT:-8080}:8080"]


def test_compose_scale_pools_consume_every_routed_queue_exactly_once(services: dict[str, Any]) -> None:
    consumed: list[str] = []
    for name in SCALE_POOLS:
        command = command_text(services[name])
        assert "celery -A config worker" in command
        queues = command.split(" -Q ", 1)[1].split(" ", 1)[0].split(",")
        consumed += queues
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"
        assert services[name]["restart"] == "unless-stopped"
    assert sorted(consumed) == sorted(set(consumed)), "a queue is consumed by two pools"
    assert set(consumed) == routed_queues()
    # The all-queues worker of the default profile consumes the same set, so scaling it to 0 loses nothing.
    assert set(QUEUES.split(",")) == routed_queues()


def test_compose_scale_profile_keeps_one_beat(services: dict[str, Any]) -> None:
    with_commands = {name: command_text(service) for name, service in services.items() if "command" in service}
    beats = [name for name, command in with_commands.items() if "celery -A apps.core.beat beat" in command]
    assert beats == ["beat"]


def test_compose_balancer_follows_the_web_pool_replicas_and_checks_healthz(services: dict[str, Any]) -> None:
    volume = services["lb"]["volumes"][0]
    config_path, _, target = volume.partition(":")
    assert target.startswith("/usr/local/etc/haproxy/haproxy.cfg")
    config = (REPO / config_path).read_text()
    assert "server-template web 16 web-pool:8000 check resolvers docker" in config
    assert "nameserver dns 127.0.0.11:53" in config  # Docker's DNS answers with every replica
    assert "uri /healthz" in config and 'hdr Host "${HEALTH_HOST}"' in config
    assert services["lb"]["environment"]["HEALTH_HOST"] == "${HEALTH_HOST:-localhost}"
