"""synth / deploy / diff / destroy / output: run the CDK app, then the real Terraform with our provider mirror."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from lockgate.cli.app_errors import app_error


class IacError(RuntimeError):
    """A step failed; the message says which and how to fix it."""


def project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "cdktf.json").is_file():
            return directory
    raise IacError(f"no cdktf.json in {here} or above: run lockgate from a CDK project (the repository root)")


def out_dir(root: Path) -> Path:
    return root / "cdktf.out"


def synth(root: Path) -> list[str]:
    """Run the app named in cdktf.json; returns the synthesised stack names."""
    app = json.loads((root / "cdktf.json").read_text()).get("app")
    if not app:
        raise IacError(f"{root / 'cdktf.json'}: 'app' is missing: set it to the command that runs the CDK app")
    argv = shlex.split(app)
    if Path(argv[0]).name.startswith("python"):
        argv[0] = sys.executable  # the interpreter lockgate is installed in
    env = {**os.environ, "CDKTF_OUTDIR": str(out_dir(root)), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise IacError(f"synth failed (`{app}` exited {result.returncode}): {app_error(result.stderr, app, root)}")
    manifest = json.loads((out_dir(root) / "manifest.json").read_text())
    return sorted(manifest["stacks"])


def terraform_binary() -> str:
    binary = os.environ.get("LOCKGATE_TERRAFORM") or shutil.which("terraform")
    if not binary:
        raise IacError("terraform is not on PATH: install it, or set LOCKGATE_TERRAFORM to its path")
    return binary


def terraform_env(root: Path) -> dict[str, str]:
    from lockgate.provider_bridge.mirror import install

    config = install(root / ".lockgate" / "terraform")
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        # the provider's launcher runs the interpreter lockgate is installed in (python3 on PATH without it)
        "LOCKGATE_PYTHON": sys.executable,
    }


def stack_dir(root: Path, stack: str, stacks: list[str]) -> Path:
    if stack not in stacks:
        raise IacError(f"no stack named {stack!r}; the app defines: {', '.join(stacks)}")
    return out_dir(root) / "stacks" / stack


def initialised(root: Path, stack: str, synthesize: bool = True) -> tuple[Path, dict[str, str], str]:
    """Synth (optionally), then `terraform init` in the stack's directory: its directory, environment and binary."""
    stacks = synth(root) if synthesize else _known_stacks(root)
    directory = stack_dir(root, stack, stacks)
    env = terraform_env(root)
    binary = terraform_binary()
    init_in(directory, env, binary, f"stack {stack!r}")
    return directory, env, binary


def init_in(directory: Path, env: dict[str, str], binary: str, what: str) -> None:
    init = subprocess.run(
        [binary, "init", "-input=false", "-upgrade", "-no-color"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise IacError(f"terraform init failed for {what}:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")


def terraform(root: Path, stack: str, *args: str, synthesize: bool = True, capture: bool = False) -> int | str:
    """Synth (optionally), init, then `terraform ARGS` in the stack's directory; returns its exit code."""
    directory, env, binary = initialised(root, stack, synthesize)
    command, *rest = args
    # Terraform colours its output even when it goes to a file or a CI log: only a terminal gets colours
    argv = [binary, command, *([] if sys.stdout.isatty() and not capture else ["-no-color"]), *rest]
    if capture:
        result = subprocess.run(argv, cwd=directory, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise IacError(result.stderr.strip() or result.stdout.strip())
        return result.stdout
    code = subprocess.run(argv, cwd=directory, env=env).returncode
    if code == 0 and command == "apply":
        keep_applied(root, stack, directory / "cdk.tf.json")
    elif code == 0 and command == "destroy":  # nothing left to roll back to
        shutil.rmtree(applied_config(root, stack).parent, ignore_errors=True)
    return code


def applied_config(root: Path, stack: str) -> Path:
    """Where the configuration last applied to `stack` is kept (what `lockgate promote --rollback` returns to)."""
    return root / ".lockgate" / "applied" / stack / "cdk.tf.json"


def keep_applied(root: Path, stack: str, config: Path) -> None:
    kept = applied_config(root, stack)
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config, kept)


def _known_stacks(root: Path) -> list[str]:
    manifest = out_dir(root) / "manifest.json"
    if not manifest.exists():
        return synth(root)
    return sorted(json.loads(manifest.read_text())["stacks"])
