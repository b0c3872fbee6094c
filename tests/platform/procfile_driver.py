"""Run platform/runner.py's supervision of the Procfile as `make run` does once its setup is done.

The supervision tests start this file (directly, or as a make recipe so that make's signal
forwarding is real) with DATABASE_URL, REDIS_URL, HOST and PORT in the environment. It skips
what `runner.py run` does before supervising: building .venv, choosing services, migrating.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "platform" / "runner.py"


def main() -> int:
    """Install the runner's signal handlers, then supervise web, worker and beat until stopped."""
    spec = importlib.util.spec_from_file_location("sightline_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    sys.modules["sightline_runner"] = runner  # dataclasses look their module up while the class is built
    spec.loader.exec_module(runner)
    runner.install_signal_handlers()  # as runner.main() does, before any child starts
    try:
        return runner.supervise_procfile({**os.environ, "PYTHONUNBUFFERED": "1"}, login_lines=["Login: test"])
    except (KeyboardInterrupt, runner.Terminated):
        return 130


if __name__ == "__main__":
    sys.exit(main())
