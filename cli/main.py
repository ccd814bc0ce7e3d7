"""The `lockgate` command: a thin face over the runtime (serve, mock-llm) and the IaC flow (synth, deploy, ...)."""

from __future__ import annotations

import dataclasses
import enum
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from lockgate.cli.rendering import LockgateCommand, LockgateGroup
from lockgate.sdk.providers import PROVIDERS
from typer.core import TyperCommand

T = TypeVar("T")
app = typer.Typer(
    cls=LockgateGroup, no_args_is_help=True, add_completion=False, help="lockgate: an AI gateway managed as code."
)
MockProvider = enum.Enum("MockProvider", {name: name for name in PROVIDERS}, type=str)  # type: ignore[misc]
OPENAI = MockProvider("openai")
Stack = Annotated[str, typer.Argument(metavar="STACK", help="A stack of the CDK app (`lockgate synth` lists them).")]
AutoApprove = Annotated[
    bool, typer.Option("--auto-approve", help="Apply without asking (needed when stdin is not a terminal).")
]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"lockgate {version('lockgate')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print lockgate's version and exit."),
    ] = False,
) -> None:
    """lockgate: an AI gateway managed as code."""


def _serve_option(field: str) -> Any:
    """A `lockgate serve` flag made from the ServeOptions field of that name (one definition of each option)."""
    from lockgate.sdk import ServeOptions

    return typer.Option(help=ServeOptions.model_fields[field].description)


def _serve_default(field: str) -> Any:
    from lockgate.sdk import ServeOptions

    return ServeOptions.model_fields[field].default


@app.command()
def serve(
    role: Annotated[str, _serve_option("role")] = _serve_default("role"),
    config: Annotated[str | None, _serve_option("config")] = None,
    data_dir: Annotated[str, _serve_option("data_dir")] = _serve_default("data_dir"),
    proxy_host: Annotated[str, _serve_option("proxy_host")] = _serve_default("proxy_host"),
    proxy_port: Annotated[int, _serve_option("proxy_port")] = _serve_default("proxy_port"),
    admin_host: Annotated[str, _serve_option("admin_host")] = _serve_default("admin_host"),
    admin_port: Annotated[int, _serve_option("admin_port")] = _serve_default("admin_port"),
    admin_token_file: Annotated[str | None, _serve_option("admin_token_file")] = None,
    cluster_host: Annotated[str, _serve_option("cluster_host")] = _serve_default("cluster_host"),
    cluster_port: Annotated[int, _serve_option("cluster_port")] = _serve_default("cluster_port"),
    cluster_token_file: Annotated[str | None, _serve_option("cluster_token_file")] = None,
    control_plane: Annotated[str | None, _serve_option("control_plane")] = None,
    workers: Annotated[int, _serve_option("workers")] = _serve_default("workers"),
    name: Annotated[str | None, _serve_option("name")] = None,
    instance_id: Annotated[str | None, _serve_option("instance_id")] = None,
) -> None:
    """Run a gateway: standalone (admin API and proxy in one process), a control plane or a data plane."""
    from lockgate.gateway_runtime import ConfigFileError, StartError, run
    from lockgate.gateway_runtime.data.snapshot import CompileError
    from lockgate.sdk import ServeOptions
    from lockgate.sdk.problems import problems_of
    from pydantic import ValidationError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    given = {k: v for k, v in locals().items() if k in ServeOptions.model_fields}
    try:
        options = ServeOptions.model_validate(given)
    except ValidationError as exc:  # a usage error, like a flag typer itself refuses
        problem = problems_of(exc.errors(), ServeOptions)[0]
        flag = f"--{'-'.join(str(p) for p in problem.loc).replace('_', '-')}: " if problem.loc else ""
        raise typer.BadParameter(f"{flag}{problem.message}") from None
    try:
        run(options)
    except (ConfigFileError, CompileError, StartError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot listen: {exc}")


@app.command("mock-llm")
def mock_llm(
    host: str = "127.0.0.1",
    port: int = 9000,
    chunks: Annotated[int, typer.Option(help="SSE chunks per streamed reply.")] = 8,
    chunk_delay_ms: Annotated[float, typer.Option(help="Pause between SSE chunks.")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="Pause before every answer.")] = 0.0,
    name: Annotated[str | None, typer.Option(help="The mock's name, reported by /health.")] = None,
    instance_id: Annotated[
        str | None, typer.Option(help="Reported by /health, so a starter can tell its process from another (random).")
    ] = None,
    provider: Annotated[MockProvider, typer.Option(help="The provider whose wire format it speaks.")] = OPENAI,
) -> None:
    """Serve a local LLM upstream in one provider's wire format (non-streaming and SSE, with usage)."""
    from lockgate.gateway_runtime import MockSettings, run_mock

    settings = MockSettings(host, port, chunks, chunk_delay_ms, latency_ms, name=name, provider=provider.value)
    run_mock(dataclasses.replace(settings, instance_id=instance_id) if instance_id else settings)


@app.command("synth")
def synth_command() -> None:
    """Synthesise every stack of the CDK app (cdktf.json) to Terraform JSON in cdktf.out/."""
    from lockgate.cli import iac

    root = _root()
    stacks = _run(lambda: iac.synth(root))
    typer.echo(f"synthesised {len(stacks)} stack(s) into {iac.out_dir(root)}: {', '.join(stacks)}")
    config = iac.terraform_env(root)["TF_CLI_CONFIG_FILE"]
    typer.echo(
        f"provider mirror ready; for plain terraform/cdktn: export TF_CLI_CONFIG_FILE={config} CHECKPOINT_DISABLE=1"
    )


@app.command()
def deploy(stack: Stack, auto_approve: AutoApprove = False) -> None:
    """Synthesise, then `terraform apply` STACK with the lockgate provider (installed offline)."""
    _terraform(stack, "apply", *_approval("deploy", stack, auto_approve))


@app.command()
def diff(stack: Stack) -> None:
    """Show what a deploy would change. Exit 0: no changes, 2: changes, 1: error."""
    _terraform(stack, "plan", "-input=false", "-detailed-exitcode")


class ReportFormat(enum.StrEnum):
    text = "text"
    json = "json"


@app.command()
def promote(
    stacks: Annotated[
        list[str],
        typer.Argument(metavar="SOURCE TARGET...", help="The source stack, then the targets in the order to apply."),
    ],
    apply_changes: Annotated[
        bool, typer.Option("--apply", help="Apply to the targets one at a time (the first is the canary).")
    ] = False,
    rollback: Annotated[
        bool,
        typer.Option("--rollback", help="Re-apply what each named stack ran before its last promotion (no SOURCE)."),
    ] = False,
    format: Annotated[ReportFormat, typer.Option("--format", help="text, or json for pipelines.")] = ReportFormat.text,
) -> None:
    """Promote what SOURCE runs to TARGETs: check SOURCE (no drift, healthy), report what each target will run and
    whom it affects (from its last 24 h of usage), and with --apply apply region by region with a smoke check,
    stopping at the first failure. Exit 0: nothing to do (or applied), 2: changes to apply, 1: error or stopped."""
    import json

    from lockgate.cli import promote as promotion
    from lockgate.cli import promote_report as report
    from lockgate.cli.iac import IacError
    from lockgate.sdk import LockgateError

    root = _root()
    who = promotion.actor()
    try:
        if rollback:
            outcomes = [promotion.rollback(root, stack, who) for stack in stacks]
            if format is ReportFormat.json:
                typer.echo(json.dumps({"outcomes": [o.__dict__ for o in outcomes]}, indent=2))
            for outcome in outcomes:
                if format is ReportFormat.text:
                    typer.echo(report.rollback_text(outcome))
            raise typer.Exit(1 if any(o.detail.startswith(promotion.FAILED) for o in outcomes) else 0)
        source, *targets = stacks
        run = promotion.prepare(root, source, targets)
        try:
            if format is ReportFormat.text:
                typer.echo(report.report_text(run))
            changes = any(t.changes for t in run.targets)
            done = None
            if apply_changes:
                done = promotion.apply(root, run, who, progress=None if format is ReportFormat.json else typer.echo)
            elif changes and format is ReportFormat.text:
                typer.echo(f"\nNothing applied: add --apply to apply it, {targets[0]} first.")
            if format is ReportFormat.json:
                typer.echo(json.dumps(report.report_json(run), indent=2, default=str))
        finally:
            run.close()
        raise typer.Exit((0 if done else 1) if done is not None else (2 if changes else 0))
    except (IacError, LockgateError) as exc:
        _fail(str(exc))


@app.command()
def destroy(stack: Stack, auto_approve: AutoApprove = False) -> None:
    """Destroy everything STACK deployed (stops its runtimes and frees their ports)."""
    _terraform(stack, "destroy", *_approval("destroy", stack, auto_approve))


@app.command()
def output(
    stack: Stack,
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="The output; without it, list them all.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON (lists, and all outputs for scripts).")] = False,
) -> None:
    """Print one output of a deployed STACK, raw (sensitive ones included); without NAME, list them all."""
    from lockgate.cli import iac

    args = ("output", "-json" if as_json else "-raw", name) if name else ("output", *(("-json",) if as_json else ()))
    value = _run(lambda: iac.terraform(_root(), stack, *args, synthesize=False, capture=True))
    typer.echo(value, nl=False)


@app.command("admin-token")
def admin_token(
    stack: Stack,
    gateway: Annotated[str | None, typer.Option(help="The gateway, when STACK has more than one.")] = None,
) -> None:
    """Print the admin token of STACK's gateway (read from the file its admin_token_ref names), for scripts."""
    from lockgate.cli import state

    token = _run(lambda: state.gateway(_root(), stack, gateway).admin_token())
    typer.echo(token)


image_app = typer.Typer(cls=LockgateGroup, no_args_is_help=True, help="The runtime's container image.")
app.add_typer(image_app, name="image")


@image_app.command("build")
def image_build(
    tag: Annotated[str, typer.Option(metavar="TAG", help="The image's tag.")] = "lockgate/runtime:latest",
) -> None:
    """Build the runtime image with the local Docker engine, from Debian's packages and this checkout (nothing is
    pulled); an image whose inputs have not changed is not built again."""
    from lockgate.cli import image
    from lockgate.provider_bridge.docker_engine import EngineUnavailable

    try:
        built = image.build(tag)
    except (image.ImageError, EngineUnavailable) as exc:
        _fail(str(exc))
    typer.echo(
        f"{built.tag} {'built' if built.rebuilt else 'is up to date'}: {built.size_mb} MB, id {built.id[7:19]} "
        f"({built.seconds:.1f}s)"
    )


consumers_app = typer.Typer(
    cls=LockgateGroup, no_args_is_help=True, help="Provision consumers and their keys in bulk (for pipelines)."
)
app.add_typer(consumers_app, name="consumers")
GatewayName = Annotated[
    str | None, typer.Option("--gateway", metavar="NAME", help="A gateway deployed on this machine, by name.")
]
AdminUrl = Annotated[
    str | None, typer.Option("--admin-url", metavar="URL", help="A remote gateway's admin API (instead of --gateway).")
]
AdminTokenFile = Annotated[
    Path | None, typer.Option("--admin-token-file", metavar="FILE", help="The file holding --admin-url's token.")
]


@consumers_app.command("apply")
def consumers_apply(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Consumers as CSV, JSON or JSON Lines (by extension).")],
    gateway: GatewayName = None,
    admin_url: AdminUrl = None,
    admin_token_file: AdminTokenFile = None,
    owner: Annotated[
        str, typer.Option(metavar="NAME", help="The batch's owner: 'pipeline:NAME' (or just NAME).")
    ] = "pipeline:default",
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the owner's consumers that FILE does not list.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would change.")] = False,
    keys_out: Annotated[
        Path | None,
        typer.Option("--keys-out", metavar="FILE", help="Where generated keys go (CSV, created 0600); never shown."),
    ] = None,
) -> None:
    """Apply FILE's consumers and keys for one owner, all or nothing. Exit 0 when applied, 1 on any rejection."""
    import contextlib
    import time

    from lockgate.cli import consumers
    from lockgate.sdk import BadRequest, LockgateError
    from lockgate.sdk.consumer_files import ConsumerFileError, KeysFile, read_source
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    try:
        batch_owner = consumers.owner_of(owner)
        source = read_source(file)
        if keys_out is not None and keys_out.exists():
            _fail(f"--keys-out {keys_out} exists: the keys in it would be lost; pass a new file")
        client = consumers.admin_client(gateway, admin_url, admin_token_file, batch_owner)
        keys_file = KeysFile(keys_out, "--keys-out") if keys_out is not None and not dry_run else None
    except ConsumerFileError as exc:
        _fail(str(exc))
    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True)  # the bar only at a terminal: elsewhere it would leave an empty line
    progress = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with client, keys_file or contextlib.nullcontext(), progress as bar:
        task = bar.add_task("sending rows", total=len(source.rows))

        def sent(rows: int) -> None:
            done = rows >= len(source.rows)
            bar.update(task, completed=rows, description="applying (all or nothing)" if done else "sending rows")

        try:
            if not dry_run and keys_out is None and source.needs_generated_keys():
                # keys are shown once: find out first whether any would be generated with nowhere to go
                planned = client.consumers.apply(source.rows, owner=batch_owner, prune=prune, dry_run=True)
                if planned.generated:
                    _fail(
                        f"{file}: {planned.generated:,} row(s) without key_sha256 ask the gateway to generate keys, "
                        "which are shown once: pass --keys-out FILE to receive them (nothing was applied)"
                    )
            result = client.consumers.apply(source.rows, owner=batch_owner, prune=prune, dry_run=dry_run, progress=sent)
        except BadRequest as exc:
            _fail(f"{source.place_of(exc.field)}: {exc.message}")
        except LockgateError as exc:
            _fail(str(exc))
        if result.keys and keys_file is not None:
            keys_file.write(result.keys)
    typer.echo(consumers.summary(result, time.perf_counter() - started))
    for change, names in result.examples.model_dump().items():
        if dry_run and names:
            typer.echo(f"  {change}: {', '.join(names)}{' ...' if len(names) < getattr(result, change) else ''}")
    if result.keys:
        typer.echo(f"{len(result.keys):,} generated key(s) written to {keys_out} (mode 0600)")


@consumers_app.command("export")
def consumers_export(
    gateway: GatewayName = None,
    admin_url: AdminUrl = None,
    admin_token_file: AdminTokenFile = None,
    owner: Annotated[str | None, typer.Option(metavar="NAME", help="Only this owner's consumers.")] = None,
    format: Annotated[str, typer.Option(metavar="FORMAT", help="jsonl, json or csv.")] = "jsonl",
) -> None:
    """Print the consumers (of --owner, or all) as a file `consumers apply` takes, without secrets: applying it
    again changes nothing."""
    from lockgate.cli import consumers
    from lockgate.sdk import LockgateError
    from lockgate.sdk.consumer_files import FORMATS, ConsumerFileError

    try:
        if format not in FORMATS:
            _fail(f"--format {format!r}: use one of {', '.join(FORMATS)}")
        wanted = consumers.owner_of(owner) if owner else None
        with consumers.admin_client(gateway, admin_url, admin_token_file, "api") as client:
            rows = client.consumers.export(wanted)
        typer.echo(consumers.export_text(rows, format), nl=False)
    except ConsumerFileError as exc:
        _fail(str(exc))
    except LockgateError as exc:
        _fail(str(exc))


def _approval(verb: str, stack: str, auto_approve: bool) -> list[str]:
    """Terraform's flags for approving: asked at a terminal, refused up front where nobody can answer."""
    if auto_approve:
        return ["-input=false", "-auto-approve"]
    if not sys.stdin.isatty():
        _fail(
            f"{verb} {stack}: Terraform needs approval and stdin is not a terminal: "
            f"pass --auto-approve (lockgate {verb} {stack} --auto-approve)"
        )
    return []  # Terraform shows the plan and asks


def _terraform(stack: str, *args: str) -> None:
    from lockgate.cli import iac

    code = _run(lambda: iac.terraform(_root(), stack, *args))
    raise typer.Exit(int(code))


def _root() -> Path:
    from lockgate.cli import iac

    return _run(lambda: iac.project_root())


def _run(step: Callable[[], T]) -> T:
    from lockgate.cli.iac import IacError

    try:
        return step()
    except IacError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(1)


for _info in (
    *app.registered_commands,
    *consumers_app.registered_commands,
    *image_app.registered_commands,
):  # one way to render usage and flags
    _info.cls = LockgateCommand if _info.cls in (None, TyperCommand) else _info.cls


def main() -> None:
    """The `lockgate` console script."""
    app()


if __name__ == "__main__":
    main()
