"""The local runner's pieces: .env merge, service choice, Procfile, supervision, embedded servers."""

from __future__ import annotations

import http.server
import io
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


# -- .env ------------------------------------------------------------------------------------


def test_merge_env_text_replaces_our_keys_and_keeps_other_lines(runner: ModuleType) -> None:
    text = "# my settings\nDEBUG=true\nDATABASE_URL=postgres://old/db\n\nexport SECRET_KEY='s3cret'\nDATABASE_URL=dup\n"
    merged = runner.merge_env_text(text, {"DATABASE_URL": "postgres://new/db", "REDIS_URL": "redis://r/0"})
    lines = merged.splitlines()
    assert lines[:5] == [
        "# my settings",
        "DEBUG=true",
        "DATABASE_URL=postgres://new/db",
        "",
        "export SECRET_KEY='s3cret'",
    ]
    assert "DATABASE_URL=dup" not in lines  # a later duplicate would override the chosen URL
    assert lines[-1] == "REDIS_URL=redis://r/0"
    assert runner.parse_env_text(merged) == {
        "DEBUG": "true",
        "DATABASE_URL": "postgres://new/db",
        "SECRET_KEY": "s3cret",
        "REDIS_URL": "redis://r/0",
    }


def test_merge_env_text_is_stable_on_a_second_run(runner: ModuleType) -> None:
    updates = {"DATABASE_URL": "postgres://a/b", "REDIS_URL": "redis://c/0"}
    once = runner.merge_env_text("DEBUG=1\n", updates)
    assert runner.merge_env_text(once, updates) == once


def test_write_env_file_creates_and_updates(runner: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / ".env"
    runner.write_env_file(path, {"REDIS_URL": "redis://x/0"})
    path.write_text(path.read_text() + "PORT=9000\n")
    runner.write_env_file(path, {"REDIS_URL": "redis://y/0"})
    assert runner.read_env_file(path) == {"REDIS_URL": "redis://y/0", "PORT": "9000"}


def _write_local_key(runner: ModuleType, path: Path) -> str:
    """Do what setup() does with the key: generate one only when .env has none; return .env's key."""
    runner.write_env_file(path, runner.local_secret_key(runner.read_env_file(path)))
    return runner.read_env_file(path)["SECRET_KEY"]


def test_local_secret_key_is_generated_once_into_env_and_kept(runner: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / ".env"
    first = _write_local_key(runner, path)
    assert len(first) >= 50 and not first.startswith("django-insecure")
    assert _write_local_key(runner, path) == first  # stable across runs
    assert path.stat().st_mode & 0o077 == 0  # a new .env holding a key is private
    assert runner.local_secret_key({}) != runner.local_secret_key({})  # random, not a constant


def test_local_secret_key_fills_an_empty_line_in_place(runner: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# Django secret key\nSECRET_KEY=\nDEBUG=false\n")  # as copied from .env.example
    key = _write_local_key(runner, path)
    assert path.read_text().splitlines() == ["# Django secret key", f"SECRET_KEY={key}", "DEBUG=false"]


@pytest.mark.parametrize("existing", ["SECRET_KEY=mine-do-not-touch\n", "SECRET_KEY_FILE=/run/secrets/key\n"])
def test_local_secret_key_never_replaces_an_existing_key(runner: ModuleType, tmp_path: Path, existing: str) -> None:
    path = tmp_path / ".env"
    path.write_text(existing)
    runner.write_env_file(path, runner.local_secret_key(runner.read_env_file(path)))
    assert path.read_text() == existing
    assert runner.local_secret_key({"SECRET_KEY": "from-the-real-environment"}) == {}


def test_effective_env_real_environment_wins_over_env_file(runner: ModuleType) -> None:
    merged = runner.effective_env({"PORT": "9001"}, {"PORT": "8000", "HOST": "0.0.0.0"})
    assert merged == {"PORT": "9001", "HOST": "0.0.0.0"}


# -- service choice --------------------------------------------------------------------------


def _fail() -> str:
    """Stand-in for a probe or embedded start that must not be called."""
    raise AssertionError("should not be called")


def test_choose_service_honours_the_real_env_var(runner: ModuleType) -> None:
    choice = runner.choose_service("PostgreSQL", "DATABASE_URL", {"DATABASE_URL": "postgres://u@h/d"}, _fail, _fail)
    assert (choice.url, choice.source) == ("postgres://u@h/d", "environment")


def test_choose_service_env_var_wins_even_when_embedded_is_forced(runner: ModuleType) -> None:
    choice = runner.choose_service(
        "Redis", "REDIS_URL", {"REDIS_URL": "redis://h/1"}, _fail, _fail, force_embedded=True
    )
    assert choice.source == "environment"


def test_choose_service_prefers_a_local_server_that_answers(runner: ModuleType) -> None:
    choice = runner.choose_service("Redis", "REDIS_URL", {}, lambda: "redis://127.0.0.1:6379/0", _fail)
    assert (choice.url, choice.source) == ("redis://127.0.0.1:6379/0", "local")


def test_choose_service_falls_back_to_embedded(runner: ModuleType) -> None:
    choice = runner.choose_service("Redis", "REDIS_URL", {}, lambda: None, lambda: "redis://127.0.0.1:56379/0")
    assert choice.source == "embedded"


def test_choose_service_force_embedded_skips_the_probe(runner: ModuleType) -> None:
    choice = runner.choose_service("PostgreSQL", "DATABASE_URL", {}, _fail, lambda: "postgres://e", force_embedded=True)
    assert (choice.url, choice.source) == ("postgres://e", "embedded")


def test_choose_service_names_the_service_when_nothing_works(runner: ModuleType) -> None:
    def broken() -> str:
        raise OSError("binary missing")

    with pytest.raises(runner.RunnerError, match=r"PostgreSQL: no DATABASE_URL.*binary missing"):
        runner.choose_service("PostgreSQL", "DATABASE_URL", {}, lambda: None, broken)


def test_env_flag_reads_truthy_values(runner: ModuleType) -> None:
    assert runner.env_flag({"X": "1"}, "X") and runner.env_flag({"X": "True"}, "X")
    assert not runner.env_flag({"X": "0"}, "X") and not runner.env_flag({}, "X")


def test_free_port_avoids_a_taken_port(runner: ModuleType) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert runner.free_port(busy) != busy


# -- venv stamp ------------------------------------------------------------------------------


def test_stamp_satisfies_only_matching_hashes(runner: ModuleType) -> None:
    hashes = {"requirements.txt": "a", "requirements-dev.txt": "b"}
    assert runner.stamp_satisfies({"hashes": hashes, "dev": False}, hashes, dev=False)
    assert not runner.stamp_satisfies({"hashes": hashes, "dev": False}, hashes, dev=True)
    assert runner.stamp_satisfies({"hashes": hashes, "dev": True}, hashes, dev=False)  # dev includes base
    assert not runner.stamp_satisfies({"hashes": {**hashes, "requirements.txt": "z"}, "dev": True}, hashes, dev=False)
    assert not runner.stamp_satisfies(None, hashes, dev=False)


def test_requirements_hashes_cover_both_files(runner: ModuleType) -> None:
    assert set(runner.requirements_hashes(REPO)) == {"requirements.txt", "requirements-dev.txt"}


# -- Procfile and supervision ----------------------------------------------------------------


def test_parse_procfile_returns_web_worker_beat(runner: ModuleType) -> None:
    processes = runner.parse_procfile((REPO / "platform" / "Procfile").read_text())
    assert [name for name, _ in processes] == ["web", "worker", "beat"]
    assert processes[1][1][:4] == ["celery", "-A", "config", "worker"]


def test_run_processes_add_the_live_demo_unless_it_is_off(runner: ModuleType) -> None:
    names = [name for name, _ in runner.run_processes({})]
    assert names == ["web", "worker", "beat", "demo", "simulate"]
    assert dict(runner.run_processes({}))["simulate"][-2:] == ["--project", "demo"]
    for off in ("0", "false", "off"):
        assert [name for name, _ in runner.run_processes({"SIGHTLINE_DEMO": off})] == ["web", "worker", "beat"]


def test_demo_env_allows_loopback_judges_and_webhooks_only_with_the_demo(runner: ModuleType) -> None:
    env = runner.demo_env({"JUDGE_ALLOWED_HOSTS": "ollama.lan"})
    assert env["JUDGE_ALLOWED_HOSTS"] == "ollama.lan,127.0.0.1" and env["ALERT_ALLOWED_HOSTS"] == "127.0.0.1"
    assert runner.demo_env({"JUDGE_ALLOWED_HOSTS": "127.0.0.1"})["JUDGE_ALLOWED_HOSTS"] == "127.0.0.1"
    off = runner.demo_env({"SIGHTLINE_DEMO": "0"})
    assert "JUDGE_ALLOWED_HOSTS" not in off and "ALERT_ALLOWED_HOSTS" not in off


def test_resolve_argv_points_at_the_venv(runner: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "celery").touch()
    assert runner.resolve_argv(["celery", "-A", "config"], tmp_path) == [str(tmp_path / "celery"), "-A", "config"]
    assert runner.resolve_argv(["sh", "-c", "x"], tmp_path) == ["sh", "-c", "x"]


def _spec(runner: ModuleType, name: str, code: str) -> object:
    """Return a ProcessSpec running a Python snippet."""
    return runner.ProcessSpec(name, [sys.executable, "-u", "-c", code], {**os.environ})


SLEEPER = "import time; print('ready'); time.sleep(120)"
DEADLINE = 60.0  # only turns a hang into a failure; every wait ends on a line or a condition


def _wait_for(out: io.StringIO, text: str, count: int = 1) -> None:
    """Block until `text` appears `count` times in the captured output (fail after DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    while out.getvalue().count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} x{count} never printed:\n{out.getvalue()}"
        time.sleep(0.01)


def _signal_when(out: io.StringIO, cues: list[tuple[str, int]], sig: int = signal.SIGTERM) -> threading.Thread:
    """From a thread, wait for each (text, count) cue in turn and signal this process after each one."""

    def send() -> None:
        for text, count in cues:
            _wait_for(out, text, count)
            os.kill(os.getpid(), sig)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_restart_policy_backs_off_exponentially_up_to_a_cap(runner: ModuleType) -> None:
    policy = runner.RestartPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_restart_policy_gives_up_only_on_crashes_within_the_window(runner: ModuleType) -> None:
    policy = runner.RestartPolicy(max_crashes=5, window=60)
    assert not policy.gives_up([0, 10, 20, 30], now=30)
    assert policy.gives_up([0, 10, 20, 30, 40], now=40)
    assert not policy.gives_up([0, 10, 20, 30, 70], now=70)  # the crash at 0 is older than a minute
    assert policy.recent([0, 15, 70], now=70) == [15, 70]


def test_describe_exit_names_the_signal(runner: ModuleType) -> None:
    assert runner.describe_exit(-9) == "was killed by SIGKILL"
    assert runner.describe_exit(3) == "exited with code 3"


def test_supervisor_restarts_a_crashed_child_and_leaves_the_others_alone(runner: ModuleType, tmp_path: Path) -> None:
    out = io.StringIO()
    marker = tmp_path / "crashed-once"
    flaky = _spec(
        runner,
        "flaky",
        f"import pathlib, time; p = pathlib.Path({str(marker)!r})\n"
        "if not p.exists(): p.touch(); print('crashing'); raise SystemExit(3)\n"
        "print('second life'); time.sleep(120)",
    )
    policy = runner.RestartPolicy(initial_delay=0.01)
    supervisor = runner.Supervisor([_spec(runner, "steady", SLEEPER), flaky], out=out, stop_timeout=5, restart=policy)
    _signal_when(out, [("second life", 1)])
    assert supervisor.run() == 0
    lines = out.getvalue().splitlines()
    assert "runner | flaky exited with code 3; restarting it in 0.01s (crash 1 of 5 allowed within 60s)" in lines
    assert sum("steady started (pid" in line for line in lines) == 1
    assert sum("flaky started (pid" in line for line in lines) == 2
    assert all(proc.returncode == -15 for proc in supervisor.procs.values())


def test_supervisor_gives_up_after_repeated_crashes_and_stops_the_rest(
    runner: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    crasher = _spec(runner, "crash", "print('bye'); raise SystemExit(3)")
    policy = runner.RestartPolicy(initial_delay=0.01, max_crashes=3, window=60)
    supervisor = runner.Supervisor(
        [_spec(runner, "sleeper", SLEEPER), crasher], out=out, stop_timeout=5, restart=policy
    )
    assert supervisor.run() == 3
    assert all(proc.poll() is not None for proc in supervisor.procs.values())
    lines = out.getvalue().splitlines()
    assert "sleeper | ready" in lines and lines.count("crash   | bye") == 3
    assert sum("restarting it in" in line for line in lines) == 2
    assert "runner  | GIVING UP: crash exited with code 3: 3 crashes within 60s (the limit is 3)" in "\n".join(lines)
    assert "gave up and stopped everything" in capsys.readouterr().err


def test_supervisor_kills_a_child_that_ignores_sigterm(runner: ModuleType) -> None:
    out = io.StringIO()
    stubborn = _spec(
        runner,
        "stubborn",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready'); time.sleep(60)",
    )
    supervisor = runner.Supervisor([stubborn], out=out, stop_timeout=1)
    supervisor.start()
    _wait_for(out, "stubborn | ready")  # SIGTERM is ignored only once the child said so
    supervisor.stop_all()
    assert supervisor.procs["stubborn"].returncode == -9


def test_supervisor_stops_everything_on_sigterm(runner: ModuleType) -> None:
    out = io.StringIO()
    specs = [_spec(runner, name, SLEEPER) for name in ("web", "worker", "beat")]
    supervisor = runner.Supervisor(specs, out=out, stop_timeout=5)
    _signal_when(out, [("| ready", 3)])
    code = supervisor.run()
    assert code == 0
    assert [proc.returncode for proc in supervisor.procs.values()] == [-15, -15, -15]
    assert "stopping" in out.getvalue()
    assert "restarting" not in out.getvalue()  # exits during a stop are not crashes


# A child that takes a while to stop: a second signal arrives while it is still stopping.
SLOW_STOPPER = (
    "import signal, sys, time\n"
    "def bye(*_):\n    print('stopping slowly'); time.sleep(2); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye); print('ready'); time.sleep(120)"
)


def test_supervisor_a_repeated_sigterm_still_stops_gracefully(runner: ModuleType) -> None:
    # make forwards the SIGTERM it gets, so `kill -TERM -<pgid of make run>` reaches the runner twice.
    out = io.StringIO()
    supervisor = runner.Supervisor([_spec(runner, "web", SLOW_STOPPER)], out=out, stop_timeout=30)
    _signal_when(out, [("web | ready", 1), ("web | stopping slowly", 1)])
    assert supervisor.run() == 0
    assert supervisor.procs["web"].returncode == 0  # finished its own shutdown, not SIGKILLed


def test_supervisor_a_second_ctrl_c_kills_at_once(runner: ModuleType) -> None:
    out = io.StringIO()
    supervisor = runner.Supervisor([_spec(runner, "web", SLOW_STOPPER)], out=out, stop_timeout=30)
    _signal_when(out, [("web | ready", 1), ("web | stopping slowly", 1)], sig=signal.SIGINT)
    assert supervisor.run() == 0
    assert supervisor.procs["web"].returncode == -9
    assert "second Ctrl-C: killing everything" in out.getvalue()


def test_supervisor_handles_a_signal_sent_as_soon_as_a_child_starts(runner: ModuleType) -> None:
    # The child signals the runner before printing anything: the handlers must already be ours.
    out = io.StringIO()
    early = _spec(runner, "web", "import os, signal, time; os.kill(os.getppid(), signal.SIGTERM); time.sleep(120)")
    supervisor = runner.Supervisor([early], out=out, stop_timeout=5)
    assert supervisor.run() == 0
    assert supervisor.procs["web"].returncode == -15


def test_supervisor_output_going_away_does_not_stop_supervision(runner: ModuleType) -> None:
    out = io.StringIO()
    supervisor = runner.Supervisor([_spec(runner, "web", SLEEPER)], out=out, stop_timeout=5)
    out.close()  # the terminal or pipe we print to is gone
    supervisor.emit("web", "nobody reads this")
    supervisor.start()
    supervisor.stop_all()
    assert supervisor.procs["web"].returncode == -15


def test_supervisor_prints_the_banner_once_healthz_answers(runner: ModuleType) -> None:
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = io.StringIO()
    supervisor = runner.Supervisor([_spec(runner, "web", SLEEPER)], out=out, stop_timeout=2)
    supervisor.on_ready(f"http://127.0.0.1:{server.server_address[1]}/healthz", "Sightline is up")
    _signal_when(out, [("Sightline is up", 1)])
    supervisor.run()
    server.shutdown()
    assert "Sightline is up" in out.getvalue()


def test_healthcheck_picks_an_allowed_host(healthcheck: ModuleType) -> None:
    assert healthcheck.health_host("*, .example.com, localhost") == "example.com"
    assert healthcheck.health_host("*") == "localhost"


# -- real embedded servers (they run in CI as well: they need nothing but the wheels) ---------


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Return a fresh directory under /tmp (world-traversable, unlike pytest's 0700 tmp_path)."""
    path = Path(tempfile.mkdtemp(prefix="sightline-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.embedded_servers
def test_embedded_redis_starts_answers_and_keeps_data(runner: ModuleType, data_dir: Path) -> None:
    import redis

    server = runner.EmbeddedRedis(data_dir / "redis", runner.free_port(0))
    try:
        url = server.start()
        assert url.startswith("redis://127.0.0.1:")
        redis.Redis.from_url(url).set("sightline:test", "kept")
    finally:
        server.stop()
    assert not server.alive()
    again = runner.EmbeddedRedis(data_dir / "redis", runner.free_port(0))
    try:
        assert redis.Redis.from_url(again.start()).get("sightline:test") == b"kept"
    finally:
        again.stop()


@pytest.mark.embedded_servers
def test_embedded_postgres_starts_answers_and_keeps_data(runner: ModuleType, data_dir: Path) -> None:
    import psycopg

    server = runner.EmbeddedPostgres(data_dir / "postgres", runner.free_port(0), fast=True)
    try:
        url = server.start()
        assert url.startswith("postgres://postgres@127.0.0.1:") and url.endswith("/sightline")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id int)")
    finally:
        server.stop()
    assert not server.alive()
    again = runner.EmbeddedPostgres(data_dir / "postgres", runner.free_port(0), fast=True)
    try:
        with psycopg.connect(again.start()) as conn:
            assert conn.execute("SELECT to_regclass('kept') IS NOT NULL").fetchone() == (True,)
    finally:
        again.stop()


@pytest.mark.embedded_servers
def test_start_services_forced_embedded_gives_working_urls(runner: ModuleType, data_dir: Path) -> None:
    import psycopg
    import redis

    services = runner.start_services({}, data_dir, force_embedded=True)
    try:
        assert {services.database.source, services.redis.source} == {"embedded"}
        with psycopg.connect(services.database.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("sightline",)
        assert redis.Redis.from_url(services.redis.url).ping()
    finally:
        services.stop()
    assert services.embedded == []


def test_redact_hides_passwords(runner: ModuleType) -> None:
    assert runner.redact("postgres://u:secret@h:5432/d") == "postgres://u:***@h:5432/d"
    assert runner.redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_main_help_prints_the_usage_without_touching_the_venv(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "ensure_venv", _fail)
    assert runner.main(["--help"]) == 0
    assert "python3 platform/runner.py run" in capsys.readouterr().out
    assert runner.main(["no-such-command"]) == 2


def test_exit_code_is_non_zero_for_any_death(runner: ModuleType) -> None:
    assert (runner.exit_code(0), runner.exit_code(3), runner.exit_code(-9)) == (1, 3, 137)


def test_ensure_chromium_installs_with_apt_when_missing(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(runner, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    monkeypatch.setattr(runner.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(runner.subprocess, "call", lambda argv, **kwargs: calls.append(argv) or 0)
    runner.ensure_chromium({})
    assert calls == [["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]]


def test_ensure_chromium_warns_instead_of_failing(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    monkeypatch.setattr(runner.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(runner.subprocess, "call", lambda argv, **kwargs: 100)
    runner.ensure_chromium({})
    assert "could not install chromium" in capsys.readouterr().err


def test_ensure_pgbouncer_installs_with_apt_when_missing(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(runner, "PGBOUNCER", tmp_path / "pgbouncer")
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    monkeypatch.setattr(runner.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(runner.subprocess, "call", lambda argv, **kwargs: calls.append(argv) or 0)
    runner.ensure_pgbouncer({})
    assert calls == [["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "pgbouncer"]]
    calls.clear()
    runner.ensure_pgbouncer({"SIGHTLINE_SKIP_PGBOUNCER": "1"})
    assert calls == []


def test_ensure_pgbouncer_warns_instead_of_failing(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "PGBOUNCER", tmp_path / "pgbouncer")
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    monkeypatch.setattr(runner.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(runner.subprocess, "call", lambda argv, **kwargs: 100)
    runner.ensure_pgbouncer({})
    assert "could not install pgbouncer" in capsys.readouterr().err
