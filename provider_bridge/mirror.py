"""Install the provider for Terraform offline: a filesystem mirror plus a CLI config that uses only it.

    ROOT/mirror/lockgate.dev/lockgate/lockgate/terraform-provider-lockgate_0.1.0_linux_amd64.zip   (the launcher)
    ROOT/terraform.rc       filesystem_mirror for our address; point TF_CLI_CONFIG_FILE at it
    ROOT/provider-python    the Python this mirror was built with (the launcher's fallback, see below)

The package is the same bytes wherever it is built (no paths, no mtimes), so the `.terraform.lock.hcl` that
`terraform init` writes in one checkout is valid in every other. Which Python runs the provider is therefore decided
when Terraform starts it: `$LOCKGATE_PYTHON`; else the `provider-python` beside `$TF_CLI_CONFIG_FILE` (a
mirror built by `lockgate` records its interpreter there); else `terraform-provider-lockgate` on PATH (an activated
virtualenv).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import jinja2
from lockgate.provider_bridge.provider import HOST, NAMESPACE, SOURCE, TYPE, VERSION

PYTHON_ENV = "LOCKGATE_PYTHON"
RECORDED_PYTHON = "provider-python"
TARGETS = ("linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64")

_CLI_CONFIG = jinja2.Template(
    """provider_installation {
  filesystem_mirror {
    path    = "{{ mirror }}"
    include = ["{{ source }}"]
  }
  direct {
    exclude = ["{{ source }}"]
  }
}
"""
)

LAUNCHER = f"""#!/bin/sh
# The lockgate Terraform provider. Identical wherever it is built; the Python that runs it is found here.
py="${{{PYTHON_ENV}:-}}"
recorded="${{TF_CLI_CONFIG_FILE%/*}}/{RECORDED_PYTHON}"
if [ -z "$py" ] && [ -n "${{TF_CLI_CONFIG_FILE:-}}" ] && [ -f "$recorded" ]; then
  py="$(cat "$recorded")"
fi
if [ -n "$py" ]; then
  exec "$py" -m lockgate.provider_bridge.server "$@"
fi
if command -v terraform-provider-{TYPE} >/dev/null 2>&1; then
  exec terraform-provider-{TYPE} "$@"
fi
echo "lockgate provider: no Python with lockgate found; set {PYTHON_ENV} to one (e.g. .venv/bin/python)" >&2
exit 1
"""


def package() -> bytes:
    """The provider package: one executable entry, fixed timestamp and mode, so its bytes (and hashes) are fixed."""
    entry = zipfile.ZipInfo(f"terraform-provider-{TYPE}_v{VERSION}", date_time=(1980, 1, 1, 0, 0, 0))
    entry.create_system = 3  # unix, so the mode below is honoured when Terraform unpacks it
    entry.external_attr = 0o100755 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(entry, LAUNCHER)
    return buffer.getvalue()


def install(root: Path) -> Path:
    """(Re)build the mirror under `root` and return the CLI config file to use (TF_CLI_CONFIG_FILE)."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    module_dir = root / "mirror" / HOST / NAMESPACE / TYPE
    module_dir.mkdir(parents=True, exist_ok=True)
    data = package()
    for target in TARGETS:
        path = module_dir / f"terraform-provider-{TYPE}_{VERSION}_{target}.zip"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    _write_if_changed(root / RECORDED_PYTHON, sys.executable + "\n")
    config = root / "terraform.rc"
    _write_if_changed(config, _CLI_CONFIG.render(mirror=root / "mirror", source=SOURCE))
    return config


def provider_env() -> dict[str, str]:
    """What a tool that runs Terraform should add to its environment: this interpreter runs the provider."""
    return {PYTHON_ENV: sys.executable}


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
