"""The app layering of design.md: a lower app never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

ORDER = [
    "core",
    "projects",
    "traces",
    "scores",
    "feedback",
    "review",
    "judges",
    "evaluators",
    "datasets",
    "slis",
    "dashboards",
    "demo",  # composes every other app to seed the demo; nothing imports it
]
APPS = Path(__file__).resolve().parents[2] / "apps"


def imported_apps(path: Path) -> set[str]:
    """Return the apps a module imports (absolute `apps.<name>` imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "apps" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_no_app_imports_a_higher_app():
    violations = []
    for app_dir in sorted(p for p in APPS.iterdir() if p.is_dir() and p.name in ORDER):
        rank = ORDER.index(app_dir.name)
        for module in app_dir.rglob("*.py"):
            for other in imported_apps(module):
                if other in ORDER and ORDER.index(other) > rank:
                    violations.append(f"{module.relative_to(APPS.parent)} imports apps.{other}")
    assert violations == []


def test_every_app_directory_is_in_the_order():
    apps = {p.name for p in APPS.iterdir() if p.is_dir() and (p / "apps.py").exists()}
    assert apps <= set(ORDER), apps - set(ORDER)
