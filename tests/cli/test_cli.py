"""The `lockgate` command as a user runs it: real processes, the real CDK app, exit codes and messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCKGATE = str(Path(sys.executable).parent / "lockgate")


@pytest.fixture
def project(tmp_path: Path, isolated_home: Path) -> Path:
    """A copy of the repository's CDK app that a test may break."""
    shutil.copytree(REPO / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "cdktf.json", tmp_path / "cdktf.json")
    return tmp_path


def lockgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [LOCKGATE, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def edit_demo(project: Path, old: str, new: str) -> int:
    """Replace `old` in the demo stack; returns the line it was on."""
    demo = project / "stacks" / "demo.py"
    text = demo.read_text()
    assert old in text
    demo.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize(
    "args",
    [("diff", "demo", "-no-color"), ("deploy",), ("nope",), ("--bogus",), ("serve", "--workers", "0")],
)
def test_usage_errors_exit_1_because_2_means_there_are_changes(project: Path, args: tuple[str, ...]) -> None:
    result = lockgate(project, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Usage: lockgate" in result.stderr


def test_version() -> None:
    result = lockgate(REPO, "--version")
    assert result.returncode == 0 and result.stdout == f"lockgate {version('lockgate')}\n"


def test_help_names_arguments_as_usage_does_and_shows_flags_without_a_type() -> None:
    deploy = lockgate(REPO, "deploy", "--help").stdout
    assert "Usage: lockgate deploy [OPTIONS] STACK" in deploy and "{stack}" not in deploy
    assert "--auto-approve" in deploy and "<bool>" not in deploy
    assert "Usage: lockgate output [OPTIONS] STACK [NAME]" in lockgate(REPO, "output", "--help").stdout
    top = lockgate(REPO, "--help").stdout
    assert "--version" in top and "admin-token" in top and "<bool>" not in top


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_without_a_terminal_deploy_and_destroy_need_auto_approve(project: Path, command: str) -> None:
    result = lockgate(project, command, "demo")
    assert result.returncode == 1
    assert "stdin is not a terminal" in result.stderr and f"lockgate {command} demo --auto-approve" in result.stderr
    assert not (project / "cdktf.out").exists()  # refused up front: nothing was synthesised or planned


def test_terraform_gets_the_interpreter_lockgate_runs_in(tmp_path: Path) -> None:
    from lockgate.cli import iac

    env = iac.terraform_env(tmp_path)
    assert env["LOCKGATE_PYTHON"] == sys.executable and env["CHECKPOINT_DISABLE"] == "1"
    assert Path(env["TF_CLI_CONFIG_FILE"]).is_file()


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def synth_both_ways(project: Path) -> tuple[str, str]:
    """`lockgate synth` and the app run directly, as cdktn runs it: each must print one error line."""
    env = {**os.environ, "CDKTF_OUTDIR": str(project / "out")}
    direct = subprocess.run(
        [sys.executable, "stacks/main.py"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    return one_error_line(lockgate(project, "synth")), one_error_line(direct)


def test_an_invalid_rate_limit_is_one_line_naming_construct_field_value_and_range(project: Path) -> None:
    line = edit_demo(project, "RateLimit.per_minute(DEMO_REQUESTS_PER_MINUTE)", "RateLimit.per_minute(-5)")
    via_cli, direct = synth_both_ways(project)
    expected = (
        f"demo (stacks/demo.py:{line}): RateLimit.requests: Input should be greater than 0, got -5 (allowed: 1 to"
    )
    assert via_cli.startswith("error: synth failed (`python3 stacks/main.py` exited 1): " + expected)
    assert direct.startswith("error: " + expected)


def test_a_construct_error_is_one_line_and_says_the_value_once(project: Path) -> None:
    edit_demo(project, 'paths=["/v1"]', 'paths=["v1"]')
    via_cli, direct = synth_both_ways(project)
    expected = "demo/demo/chat: paths: paths[0] must start with '/' (a prefix) or '~' (a pattern), got 'v1'"
    assert via_cli.endswith(expected) and direct == "error: " + expected


def test_a_secret_given_in_place_of_a_reference_is_never_repeated(project: Path) -> None:
    edit_demo(
        project,
        "llm = LlmUpstream.mock(",
        'LlmUpstream.openai(self, "o", gateway=gateway, model="m", '
        'api_key="sk-live-0123456789")\n        llm = LlmUpstream.mock(',
    )
    via_cli, direct = synth_both_ways(project)
    for line in (via_cli, direct):
        assert "demo/o: auth: must be a secret reference" in line and "0123456789" not in line


def test_any_other_app_error_is_its_last_line_and_where_it_was_raised(project: Path) -> None:
    line = edit_demo(project, "alice = team.add_consumer(", "alice = undefined_name.add_consumer(")
    error = one_error_line(lockgate(project, "synth"))
    assert f"NameError: name 'undefined_name' is not defined (at stacks/demo.py:{line})" in error
    assert error.endswith("run `python3 stacks/main.py` to see the whole traceback")
