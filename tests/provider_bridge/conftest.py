"""Terraform projects for the provider's e2e tests: the real Terraform 1.11 against the real provider (mirror)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lockgate.provider_bridge.drivers import process as process_driver
from lockgate.provider_bridge.mirror import install

HEADER = """
terraform {
  required_providers {
    lockgate = { source = "lockgate.dev/lockgate/lockgate" }
  }
}
"""


@dataclass
class Project:
    """One Terraform working directory; `tf(...)` runs terraform there and asserts on its exit code."""

    workdir: Path
    env: dict[str, str]
    home: Path
    binary: str
    log: list[str] = field(default_factory=list)

    def write(self, body: str) -> None:
        (self.workdir / "main.tf").write_text(HEADER + body)

    def tf(
        self, *args: str, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args, "-no-color"],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.log.append(result.stdout + result.stderr)
        assert result.returncode in ok, (
            f"terraform {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return result

    def apply(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        return self.tf("apply", "-auto-approve", "-input=false", *args, ok=ok)

    def endpoint(self, gateway: str) -> dict[str, object]:
        return dict(json.loads((self.home / "gateways" / gateway / "endpoint.json").read_text()))


def _stop_everything_registered(home: Path) -> None:
    """Safety net after a test: stop (by PID) any lockgate process a registration under `home` still names."""
    for registration in [*home.glob("gateways/*/endpoint.json"), *home.glob("mocks/*/state.json")]:
        try:
            pid = int(json.loads(registration.read_text()).get("pid") or 0)
        except (OSError, ValueError):
            continue
        process_driver.stop(pid)


@pytest.fixture
def project(tmp_path: Path, isolated_home: Path) -> Iterator[Callable[..., Project]]:
    """project(body, name="p") -> an initialised Terraform project; all are destroyed (and their processes
    stopped) after the test."""
    binary = shutil.which("terraform")
    if not binary:
        pytest.fail("terraform (1.11) is not on PATH")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(install(tmp_path / "tf")), "TF_IN_AUTOMATION": "1"}
    made: list[Project] = []

    def make(body: str, name: str = "p") -> Project:
        workdir = tmp_path / name
        workdir.mkdir()
        made.append(p := Project(workdir, env, isolated_home, binary))
        p.write(body)
        p.tf("init", "-input=false")
        return p

    try:
        yield make
    finally:
        for p in made:
            subprocess.run(
                [binary, "destroy", "-auto-approve", "-no-color"], cwd=p.workdir, env=env, capture_output=True
            )
        _stop_everything_registered(isolated_home)
