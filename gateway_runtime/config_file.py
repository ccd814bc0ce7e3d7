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
    except json.JSONDecodeError as exc:  # its message never quotes the file
        raise ConfigFileError(f"{path}: not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:  # PyYAML's own message quotes the line, which may hold a pasted secret
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigFileError(
            f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or 'syntax error'}"
        ) from None
    try:
        return GatewayConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = [
            f"  {p}" if p.loc else f"  (top level): {p.message}" for p in problems_of(exc.errors(), GatewayConfig)
        ]
        raise ConfigFileError(f"{path}: invalid gateway config:\n" + "\n".join(problems)) from None
