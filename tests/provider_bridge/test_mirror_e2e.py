"""The provider package is the same bytes wherever it is built, so one lock file fits every checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lockgate.provider_bridge import mirror

MAIN_TF = """
terraform {
  required_providers {
    lockgate = { source = "lockgate.dev/lockgate/lockgate" }
  }
}
resource "lockgate_gateway" "gw" { name = "gw" }
"""


def _terraform(args: list[str], cwd: Path, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("terraform")
    assert binary, "terraform (1.11) is not on PATH"
    full_env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", **env}
    return subprocess.run([binary, *args, "-no-color"], cwd=cwd, env=full_env, capture_output=True, text=True)


@pytest.mark.e2e
def test_a_lock_file_from_one_checkout_works_in_another(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = mirror.install(tmp_path / "mine" / ".lockgate" / "terraform")
    time.sleep(1.1)  # another second on the clock: zip timestamps must not matter either
    monkeypatch.setattr(sys, "executable", "/home/teammate/lockgate/.venv/bin/python")  # another checkout
    theirs = mirror.install(tmp_path / "theirs" / ".lockgate" / "terraform")
    monkeypatch.undo()

    first, second = tmp_path / "mine" / "stack", tmp_path / "theirs" / "stack"
    for stack in (first, second):
        stack.mkdir(parents=True)
        (stack / "main.tf").write_text(MAIN_TF)
    init = _terraform(["init", "-input=false"], first, mine)
    assert init.returncode == 0, init.stdout + init.stderr
    shutil.copy(first / ".terraform.lock.hcl", second / ".terraform.lock.hcl")

    init = _terraform(["init", "-input=false"], second, theirs)
    assert init.returncode == 0, init.stdout + init.stderr
    assert (first / ".terraform.lock.hcl").read_text() == (second / ".terraform.lock.hcl").read_text()

    # the package is the same; the interpreter is chosen when Terraform starts it (here: LOCKGATE_PYTHON)
    checked = _terraform(["validate"], second, theirs, LOCKGATE_PYTHON=sys.executable)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    missing = _terraform(["validate"], second, theirs)  # its recorded interpreter does not exist here
    assert missing.returncode == 1


def test_the_package_holds_no_path_and_no_clock() -> None:
    first = mirror.package()
    time.sleep(1.1)
    assert mirror.package() == first
    assert sys.executable.encode() not in first and b"/home/" not in first
