"""Fixtures of the end-to-end tests: a private copy of the CDK app to deploy from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, isolated_home: Path) -> Path:
    """A copy of the repository's CDK app, so state and cdktf.out stay in the test's directory."""
    shutil.copytree(REPO / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "cdktf.json", tmp_path / "cdktf.json")
    return tmp_path
