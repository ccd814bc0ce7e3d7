"""The snapshot the control plane publishes for data-plane workers: DATA_DIR/published.json, replaced atomically.

Workers poll its version and keep serving the last good config if a new one cannot be compiled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lockgate.sdk import GatewayConfig

FILE = "published.json"


def publish(data_dir: Path, config: GatewayConfig, version: int) -> None:
    target = data_dir / FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps({"version": version, "config": config.model_dump(mode="json")}))
    os.replace(temporary, target)


def read(data_dir: Path) -> tuple[int, GatewayConfig]:
    raw = json.loads((data_dir / FILE).read_text())
    return int(raw["version"]), GatewayConfig.model_validate(raw["config"])


def stamp(data_dir: Path) -> int:
    """Changes whenever a new snapshot is published (cheap enough to poll)."""
    try:
        return (data_dir / FILE).stat().st_mtime_ns
    except FileNotFoundError:
        return 0
