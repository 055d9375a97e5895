"""Installing for production: the wheel carries everything `nhictl` needs at run time.

Builds the wheel from a copy of the source tree (offline: ``--no-build-isolation`` with the
dev venv's setuptools, ``--no-index``), installs it into a fresh venv, and runs commands that
read package data (the scope catalog, the published schemas) and the sandbox (the demo).
The fresh venv sees the dev venv's site-packages through a ``.pth`` line for the
dependencies only: a ``.pth`` inside a path added that way is not processed, so the dev
venv's editable nhictl cannot shadow the installed wheel (asserted below).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{args}: {result.stderr[-2000:]}"
    return result.stdout


def _clean_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("NHICTL_", "PYTHON", "VIRTUAL_ENV", "PIP_"))}
    return {**keep, "HOME": str(home), "PIP_NO_INDEX": "1", "NO_COLOR": "1"}


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for extra in ROOT.glob("LICEN[CS]E*"):
        shutil.copy2(extra, src / extra.name)
    shutil.copytree(ROOT / "nhictl", src / "nhictl",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = _clean_env(tmp_path)
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
         "--no-index", "-q", "-w", dist, src, cwd=tmp_path, env=env)
    (wheel,) = dist.glob("nhictl-*.whl")

    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index",
         "--no-deps", wheel, cwd=tmp_path, env=env)
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                        cwd=tmp_path, env=env).strip())
    (purelib / "_dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = _run(python, "-c", "import nhictl; print(nhictl.__file__)", cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(target), where  # the wheel, not the checkout
    nhictl = target / "bin" / "nhictl"

    scopes = json.loads(_run(nhictl, "scopes", "list", "-o", "json", cwd=tmp_path, env=env))
    assert len(scopes["scopes"]) > 50
    assert {"chat:write", "channels:history"} <= {s["scope"] for s in scopes["scopes"]}

    listed = _run(nhictl, "schema", cwd=tmp_path, env=env)
    assert "export" in listed.split()
    schema = json.loads(_run(nhictl, "schema", "export", cwd=tmp_path, env=env))
    assert schema["$schema"].startswith("https://json-schema.org/")

    demo = tmp_path / "demo"
    _run(nhictl, "demo", "--out", demo, cwd=tmp_path, env=env)
    assert (demo / "access-review.html").is_file()
    findings = json.loads((demo / "findings.json").read_text())
    published = json.loads(_run(nhictl, "schema", "findings", cwd=tmp_path, env=env))
    assert list(Draft202012Validator(published).iter_errors(findings)) == []
    assert (demo / "sandbox" / "scenario.json").is_file()
