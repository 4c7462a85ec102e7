"""The built wheel holds every package under its namespaced name and nothing top-level but horus."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def source_packages() -> set[str]:
    found = set()
    for top, installed_as in (("horus", "horus"), ("workers", "horus/workers"), ("cli", "horus/cli")):
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top)
            found.add(installed_as if str(relative) == "." else f"{installed_as}/{relative}")
    return found


def test_wheel_contents(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("horus-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"horus", wheel.name.split("-py")[0] + ".dist-info"}
    packages = {name.rsplit("/", 1)[0] for name in names if name.endswith("/__init__.py")}
    assert packages == source_packages()
    assert {f"horus/lua/{p.name}" for p in (ROOT / "horus" / "lua").glob("*.lua")} <= set(names)
    # The dashboard's page, script and style are package data: the supervisor serves them from there.
    assert {f"horus/ui/static/{p.name}" for p in (ROOT / "horus" / "ui" / "static").iterdir()} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "python = horus.workers.python:PythonRunner" in entry_points
    assert "horus = horus.cli.main:run" in entry_points
