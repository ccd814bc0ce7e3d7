"""Install the provider for Terraform offline: a filesystem mirror plus a CLI config that uses only it.

    .lockgate/terraform/mirror/lockgate.dev/lockgate/lockgate/...   (zip of a wrapper that execs this Python)
    .lockgate/terraform/terraform.rc                               (filesystem_mirror for our address)

Point Terraform (or cdktn) at it with TF_CLI_CONFIG_FILE; `lockgate deploy/diff/destroy` do it for you.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2
from lockgate.provider_bridge.provider import HOST, NAMESPACE, SOURCE, TYPE, VERSION
from tf.runner import install_provider

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


def install(root: Path) -> Path:
    """(Re)build the mirror under `root` and return the CLI config file to use."""
    root = root.resolve()
    wrapper = root / "bin" / f"terraform-provider-{TYPE}"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    script = f'#!/bin/sh\nexec "{sys.executable}" -m lockgate.provider_bridge.server "$@"\n'
    if not wrapper.exists() or wrapper.read_text() != script:
        wrapper.write_text(script)
        wrapper.chmod(0o755)
    mirror = root / "mirror"
    marker = mirror / HOST / NAMESPACE / TYPE / f"{VERSION}.json"
    if not marker.exists() or marker.stat().st_mtime < wrapper.stat().st_mtime:
        install_provider(HOST, NAMESPACE, TYPE, VERSION, mirror, wrapper)
    config = root / "terraform.rc"
    config.write_text(_CLI_CONFIG.render(mirror=mirror, source=SOURCE))
    return config
