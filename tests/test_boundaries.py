"""Which top-level packages may import which: the tests and the load test share the runner's
harness and the sample images, never each other's code, and the product imports no test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = {
    "tests": {"loadtest"},
    "loadtest": {"tests"},
    "local_runner": {"tests", "loadtest", "bench"},
    "samples": {"tests", "loadtest", "bench"},
    "bench": {"tests", "loadtest"},
}


def imported_packages(source: Path) -> set[str]:
    """The top-level package of every absolute import in `source`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_they_may(package: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources, f"no modules under {package}/"
    wrong = {
        str(source.relative_to(ROOT)): sorted(imported_packages(source) & FORBIDDEN[package])
        for source in sources
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_check_sees_imports_in_every_form(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        "import loadtest.load\nfrom tests import support\n"
        "def later() -> None:\n    import bench.load as b\n"
        "from . import sibling\n"
    )
    assert imported_packages(source) == {"loadtest", "tests", "bench"}
