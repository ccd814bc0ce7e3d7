"""Packaging: one distribution, four subpackages, the jsii `constructs` library never shadowed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import metadata, version
from pathlib import Path

import lockgate.constructs
import lockgate.gateway_runtime
import lockgate.provider_bridge
import lockgate.sdk
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def test_bare_constructs_import_is_the_jsii_library_even_from_the_repo_root() -> None:
    code = "import constructs, sys; print(constructs.__file__); print(hasattr(constructs, 'Construct'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    path, has_construct = out.split()
    assert "site-packages" in path and has_construct == "True"
    assert Path(path).parent != REPO / "constructs"


def test_subpackages_map_to_the_top_level_folders() -> None:
    for module, folder in [
        (lockgate.sdk, "sdk"),
        (lockgate.constructs, "constructs"),
        (lockgate.provider_bridge, "provider_bridge"),
        (lockgate.gateway_runtime, "gateway_runtime"),
    ]:
        assert Path(module.__file__).parent == REPO / folder  # type: ignore[arg-type]


def test_the_lockgate_command_is_installed() -> None:
    command = Path(sys.executable).parent / "lockgate"
    assert command.exists() or shutil.which("lockgate")
    out = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True).stdout
    for name in (
        "serve",
        "mock-llm",
        "synth",
        "deploy",
        "diff",
        "destroy",
        "output",
        "admin-token",
        "consumers",
        "image",
    ):
        assert name in out


def test_public_api_is_pinned() -> None:
    assert set(lockgate.constructs.__all__) == {
        "ConstructValidationError",
        "Consumer",
        "ConsumerGroup",
        "ConsumerSet",
        "CostBudget",
        "DockerRuntime",
        "Environment",
        "EnvironmentStack",
        "Gateway",
        "LlmUpstream",
        "MockLlm",
        "ModelPrice",
        "Overlay",
        "Policy",
        "ProcessRuntime",
        "RateLimit",
        "RemoteGateway",
        "Route",
        "TokenLimit",
        "UpstreamOverlay",
    }
    for name in (
        "GatewayConfig",
        "LlmUpstream",
        "Route",
        "Consumer",
        "ConsumerGroup",
        "ApiKey",
        "KeyAuth",
        "Acl",
        "RateLimit",
        "UsageAccounting",
        "AdminClient",
        "AsyncAdminClient",
        "BadRequest",
        "NotFound",
        "ConsumerRow",
        "KeyRow",
        "BatchResult",
        "ServeOptions",
        "DataPlanes",
    ):
        assert name in lockgate.sdk.__all__
        assert hasattr(lockgate.sdk, name)


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith(("#", " ")):
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = pinned.split(";")[0].strip()
    return pins


def test_the_lock_pins_every_dependency_and_extra_within_the_ranges_of_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    wanted += project["optional-dependencies"]["bench"]
    pins = locked()
    for requirement in map(Requirement, wanted):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement}"


def test_the_environment_is_exactly_the_lock() -> None:
    for name, pinned in locked().items():
        assert version(name) == pinned, f"{name} {version(name)} is installed, the lock says {pinned}: run `make`"


def test_make_installs_from_the_lock_and_reinstalls_when_it_changes() -> None:
    # -n: print what `make setup` would run if requirements.lock were newer than the install (-W)
    planned = subprocess.run(
        ["make", "-n", "-W", "requirements.lock", "setup"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert "pip install -q -r requirements.lock" in planned and "pip install -q --no-deps -e ." in planned
    assert "uv pip compile" in subprocess.run(["make", "-n", "lock"], cwd=REPO, capture_output=True, text=True).stdout


def test_the_license_is_an_spdx_expression() -> None:
    assert metadata("lockgate")["License-Expression"] == "Apache-2.0"
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    assert any(Requirement(r).name == "setuptools" and not Requirement(r).specifier.contains("76") for r in build)


def test_benchmarks_name_the_data_planes_dependency_versions() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import report
    finally:
        sys.path.remove(str(REPO / "bench"))
    line = report.dependency_versions()
    written = (REPO / "BENCHMARKS.md").read_text().split("## Dependency versions\n", 1)[-1].split("\n\n")[0]
    for name in ("aiohttp", "uvloop", "orjson", "pydantic", "google-re2", "fastapi", "uvicorn"):
        assert f"{name} {version(name)}" in line
        assert re.search(rf"\b{name} \d", written), f"BENCHMARKS.md does not say which {name} it measured"
