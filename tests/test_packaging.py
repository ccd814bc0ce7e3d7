"""Packaging: one distribution, four subpackages, the jsii `constructs` library never shadowed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import lockgate.constructs
import lockgate.gateway_runtime
import lockgate.provider_bridge
import lockgate.sdk

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
    for name in ("serve", "mock-llm", "synth", "deploy", "diff", "destroy", "output"):
        assert name in out


def test_public_api_is_pinned() -> None:
    assert set(lockgate.constructs.__all__) == {
        "ConstructValidationError",
        "Consumer",
        "ConsumerGroup",
        "Gateway",
        "LlmUpstream",
        "MockLlm",
        "Policy",
        "RateLimit",
        "Route",
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
    ):
        assert name in lockgate.sdk.__all__
        assert hasattr(lockgate.sdk, name)
