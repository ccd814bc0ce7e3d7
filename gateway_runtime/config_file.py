"""Load a declarative GatewayConfig file (YAML or JSON) for DB-less mode, with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from lockgate.sdk import GatewayConfig
from lockgate.sdk.problems import problems_of
from pydantic import ValidationError


class ConfigFileError(ValueError):
    """The file cannot be served; the message names the file, the field and the problem."""


def load_config_file(path: Path) -> GatewayConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    try:
        return GatewayConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = [
            f"  {p}" if p.loc else f"  (top level): {p.message}" for p in problems_of(exc.errors(), GatewayConfig)
        ]
        raise ConfigFileError(f"{path}: invalid gateway config:\n" + "\n".join(problems)) from None
