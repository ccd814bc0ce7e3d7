"""`lockgate promote SOURCE TARGET...`: move what a source environment runs to its targets, region by region.

Every stack of an app is built from one definition with its environment's overlay (constructs/environment.py), so
a target's code is the source's definition with the target's overlay. Promotion checks that the source runs exactly
its code (its plan is empty, its gateway healthy, its data planes in sync), plans each target, and reports what the
target will run in the gateway's terms and whom it affects (impact.py). With `--apply` it applies the saved plans
one target at a time, the first as the canary, sends a smoke request through each target's data planes, records
the promotion in the target's control plane, and stops at the first failure, leaving the rest untouched. The
configuration a target ran before is kept for `--rollback`. Consumers and keys are never copied: they are each
environment's own.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from lockgate.cli import iac, state
from lockgate.cli.iac import IacError
from lockgate.cli.impact import Impact, impact
from lockgate.cli.planned import Planned, planned
from lockgate.sdk import AdminClient, GatewayConfig, LockgateError, Promotion, Status, UsageRow

ENVIRONMENT_OUTPUT, SMOKE_OUTPUT = "environment", "smoke_check"  # as constructs/environment.py writes them
SYNC_TIMEOUT_S = 30.0
SMOKE_PROMPT = "lockgate promote: smoke check"
FAILED = "smoke check failed: "  # a rollback whose check failed says so first


@dataclass(frozen=True)
class Stack:
    name: str
    directory: Path
    env: dict[str, str]
    binary: str
    about: dict[str, str]  # app, environment, region

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, args[0], "-no-color", *args[1:]]
        return subprocess.run(argv, cwd=self.directory, env=self.env, capture_output=True, text=True)


@dataclass
class Source:
    stack: Stack
    config_hash: str


@dataclass
class Target:
    stack: Stack
    gateway: state.DeployedGateway | None  # None: not deployed yet
    config_hash: str
    plan_file: Path
    next: Planned
    impact: Impact

    @property
    def changes(self) -> bool:
        return self.next.changes or not self.impact.empty


@dataclass
class Outcome:
    target: str
    result: str  # applied, apply_failed, smoke_failed, unchanged
    detail: str = ""
    config_hash: str = ""


@dataclass
class Run:
    id: str
    source: Source
    targets: list[Target]
    work: Path  # the saved plans (they hold secrets of the state: removed by `close`)
    outcomes: list[Outcome] = field(default_factory=list)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def actor() -> str:
    return os.environ.get("LOCKGATE_ACTOR") or f"{getpass.getuser()}@{socket.gethostname()}"


def prepare(root: Path, source: str, targets: list[str]) -> Run:
    """Check the source, plan every target, compute the reports; nothing is changed."""
    if not targets:
        raise IacError("name at least one TARGET stack to promote to")
    if source in targets or len(set(targets)) != len(targets):
        raise IacError("each TARGET must be named once, and none may be the SOURCE")
    iac.synth(root)
    opened = {name: _open(root, name) for name in (source, *targets)}
    app = opened[source].about["app"]
    for name in targets:
        if opened[name].about["app"] != app:
            raise IacError(
                f"{name} is a stack of app {opened[name].about['app']!r}, {source} of {app!r}: promotion moves a "
                "definition between the environments of one app"
            )
    promotion_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    work = root / ".lockgate" / "promotions" / promotion_id
    work.mkdir(parents=True, mode=0o700)
    try:  # the source's check and every target's plan at once: each is mostly Terraform and its provider
        with ThreadPoolExecutor(1 + len(targets)) as pool:
            checked = pool.submit(_check_source, opened[source])
            plans = [pool.submit(_plan_target, opened[t], work) for t in targets]
            return Run(promotion_id, checked.result(), [p.result() for p in plans], work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _open(root: Path, name: str) -> Stack:
    directory, env, binary = iac.initialised(root, name, synthesize=False)
    outputs = json.loads((directory / "cdk.tf.json").read_text()).get("output") or {}
    about = (outputs.get(ENVIRONMENT_OUTPUT) or {}).get("value")
    if not isinstance(about, dict) or "app" not in about:
        raise IacError(
            f"{name} is not an environment stack: promotion moves a definition between stacks built with "
            "lockgate.constructs.EnvironmentStack (one app, an Environment each)"
        )
    return Stack(name, directory, env, binary, about)


def _gateway(stack: Stack) -> state.DeployedGateway | None:
    shown = stack.run("show", "-json")
    if shown.returncode != 0:
        raise IacError(f"reading the state of {stack.name} failed: {_tail(shown)}")
    found = state.gateways_in(json.loads(shown.stdout))
    return found[0] if found else None


def _check_source(stack: Stack) -> Source:
    gateway = _gateway(stack)
    if gateway is None:
        raise IacError(f"{stack.name} is not deployed: deploy it (lockgate deploy {stack.name}) and test it first")
    plan = stack.run("plan", "-input=false", "-detailed-exitcode", "-lock=false")
    if plan.returncode == 2:
        raise IacError(
            f"{stack.name} does not run what its code says (its plan has changes: `lockgate diff {stack.name}`): "
            f"deploy it and test it, then promote what it runs"
        )
    if plan.returncode != 0:
        raise IacError(f"planning {stack.name} failed: {_tail(plan)}")
    with _asking(stack, gateway) as admin:
        status = admin.status()
        planes = admin.data_planes().data_planes
    if status.status != "ok":
        raise IacError(f"{stack.name} is not healthy: its control plane says {status.status!r}")
    lagging = [f"{p.name or p.id}={p.state}" for p in planes if p.state != "in_sync"]
    if lagging:
        raise IacError(f"{stack.name} is not healthy: data planes not in sync: {', '.join(lagging)}")
    return Source(stack, status.config_hash)


def _plan_target(stack: Stack, work: Path) -> Target:
    plan_file = work / f"{stack.name}.tfplan"
    plan = stack.run("plan", "-input=false", "-detailed-exitcode", f"-out={plan_file}")
    if plan.returncode not in (0, 2):
        raise IacError(f"planning {stack.name} failed: {_tail(plan)}")
    shown = stack.run("show", "-json", str(plan_file))
    if shown.returncode != 0:
        raise IacError(f"reading the plan of {stack.name} failed: {_tail(shown)}")
    plan_json = json.loads(shown.stdout)
    found = state.gateways_in(plan_json.get("prior_state") or {})
    gateway = found[0] if found else None
    current, rows, config_hash = GatewayConfig(), list[UsageRow](), ""
    if gateway is not None:  # what it runs now, and who used it
        with _asking(stack, gateway) as admin:
            current = admin.config()
            rows = admin.usage(group_by=("consumer", "route", "model")).rows
            config_hash = admin.status().config_hash
    future = planned(plan_json, current)
    return Target(stack, gateway, config_hash, plan_file, future, impact(current, future.config, rows))


def apply(root: Path, run: Run, who: str, progress: Callable[[str], None] | None = None) -> bool:
    """Apply to each target in order; False (the rest untouched) at the first failure."""
    say = progress or (lambda _: None)
    for index, target in enumerate(run.targets):
        name = target.stack.name
        say(f"\n{name}: applying{' (the canary)' if index == 0 and len(run.targets) > 1 else ''} ...")
        outcome = _apply_one(root, target)
        run.outcomes.append(outcome)
        if outcome.result != "unchanged":
            _record(target.gateway, _promotion(run, target, outcome, who), outcome)
        if outcome.result in ("applied", "unchanged"):
            checked = "nothing to apply" if outcome.result == "unchanged" else "applied, smoke check passed"
            say(f"{name}: {checked} (config {outcome.config_hash[:12]})")
            continue
        rest = [t.stack.name for t in run.targets[index + 1 :]]
        say(f"{name}: {outcome.result.replace('_', ' ')}: {outcome.detail}")
        if outcome.result == "smoke_failed":
            say(f"  roll it back with: lockgate promote --rollback {name}")
        say(f"stopped: {', '.join(rest) + ' left untouched' if rest else 'no target left'}")
        return False
    return True


def _apply_one(root: Path, target: Target) -> Outcome:
    name = target.stack.name
    if not target.next.changes:
        return Outcome(name, "unchanged", config_hash=target.config_hash)
    kept = iac.applied_config(root, name)
    if target.gateway is not None and not kept.exists():
        return Outcome(
            name,
            "apply_failed",
            f"no configuration of {name} is kept to roll back to (it was deployed without lockgate): deploy it once "
            f"with `lockgate deploy {name}`, then promote",
        )
    rollback = rollback_config(root, name)
    if target.gateway is not None:
        rollback.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, rollback)
    applied = target.stack.run("apply", "-input=false", str(target.plan_file))
    if applied.returncode != 0:
        return Outcome(name, "apply_failed", f"terraform apply failed: {_tail(applied)}")
    iac.keep_applied(root, name, target.stack.directory / "cdk.tf.json")
    target.gateway = _gateway(target.stack)
    problem, config_hash = smoke(target.stack, target.gateway)
    if problem:
        return Outcome(name, "smoke_failed", problem, config_hash)
    return Outcome(name, "applied", config_hash=config_hash)


def rollback_config(root: Path, stack: str) -> Path:
    """The configuration `stack` ran before its last promotion."""
    return root / ".lockgate" / "rollback" / stack / "cdk.tf.json"


def smoke(stack: Stack, gateway: state.DeployedGateway | None) -> tuple[str, str]:
    """After an apply: every data plane serves the new config, and a one-token completion through each answers 200
    (with the stack's smoke_check output). Returns what failed ("" if nothing) and the config hash served."""
    if gateway is None:
        return "the gateway is not in the state after the apply", ""
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    try:
        status = _synced(gateway, deadline)
    except (LockgateError, TimeoutError) as exc:
        return str(exc), ""
    check = _smoke_output(stack)
    if check is None:
        return "", status.config_hash
    for url in check["proxy_urls"]:
        endpoint = f"{url.rstrip('/')}{check['path'].rstrip('/')}/chat/completions"
        body = {"model": check["model"], "messages": [{"role": "user", "content": SMOKE_PROMPT}], "max_tokens": 1}
        answer = _post_until_served(endpoint, body, check["api_key"], deadline)
        if answer.status_code != 200:
            return (
                f"smoke request to {endpoint} answered {answer.status_code}: {_error_text(answer)}",
                status.config_hash,
            )
    return "", status.config_hash


def _synced(gateway: state.DeployedGateway, deadline: float) -> Status:
    """The control plane's status once every data plane serves its config."""
    with _admin(gateway) as admin:
        while True:
            status: Status = admin.status()
            listed = admin.data_planes()
            lagging = [f"{p.name or p.id}={p.state}" for p in listed.data_planes if p.state != "in_sync"]
            if status.status == "ok" and not lagging:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"data planes not in sync {SYNC_TIMEOUT_S:g}s after the apply: {', '.join(lagging)}")
            time.sleep(0.25)


def _post_until_served(url: str, body: dict[str, Any], key: str, deadline: float) -> httpx.Response:
    """A data plane in sync serves the new config within its next look (a fraction of a second): a 404 for a
    route it does not have yet is retried until the deadline, every other answer is the answer."""
    while True:
        try:
            answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        except httpx.HTTPError as exc:
            answer = httpx.Response(599, json={"error": {"message": f"{type(exc).__name__}: {exc}"}})
        if answer.status_code not in (404, 599) or time.monotonic() > deadline:
            return answer
        time.sleep(0.25)


def _smoke_output(stack: Stack) -> dict[str, Any] | None:
    shown = stack.run("output", "-json", SMOKE_OUTPUT)
    if shown.returncode != 0:
        return None  # the stack declares no smoke check: the sync check is all there is
    value: dict[str, Any] = json.loads(shown.stdout)
    return value


def _error_text(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return answer.text[:300]


def _record(gateway: state.DeployedGateway | None, record: Promotion, outcome: Outcome) -> None:
    if gateway is None:
        return
    try:
        with _admin(gateway) as admin:
            admin.record_promotion(record)
    except LockgateError as exc:
        outcome.detail += f" (recording the promotion on {record.target} failed: {exc})"


def _promotion(run: Run, target: Target, outcome: Outcome, who: str) -> Promotion:
    return Promotion(
        id=run.id,
        at=time.time(),
        actor=who,
        source=run.source.stack.name,
        source_config_hash=run.source.config_hash,
        targets=[t.stack.name for t in run.targets],
        target=target.stack.name,
        result=outcome.result,  # type: ignore[arg-type]
        config_hash_before=target.config_hash,
        config_hash_after=outcome.config_hash,
        detail=outcome.detail[:4096],
    )


def rollback(root: Path, name: str, who: str) -> Outcome:
    """Re-apply what `name` ran before its last promotion (a Terraform apply of that configuration, on the stack's
    own state), then check it as after a promotion."""
    kept = rollback_config(root, name)
    iac.synth(root)
    stack = _open(root, name)
    if not kept.exists():
        raise IacError(f"{name} has no configuration kept from before a promotion: there is nothing to roll back to")
    gateway = _gateway(stack)
    before = ""
    if gateway is not None:
        with _admin(gateway) as admin:
            before = admin.status().config_hash
    directory = kept.parent / "apply"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    shutil.copyfile(kept, directory / "cdk.tf.json")  # its backend names the stack's own state file
    iac.init_in(directory, stack.env, stack.binary, f"the kept configuration of {name}")
    old = Stack(name, directory, stack.env, stack.binary, stack.about)
    applied = old.run("apply", "-input=false", "-auto-approve")
    if applied.returncode != 0:
        raise IacError(f"re-applying the kept configuration of {name} failed: {_tail(applied)}")
    iac.keep_applied(root, name, kept)
    kept.unlink()  # rolled back once: a second --rollback has nothing to return to
    gateway = _gateway(stack)
    problem, config_hash = smoke(old, gateway)
    outcome = Outcome(name, "rolled_back", FAILED + problem if problem else "", config_hash)
    record = Promotion(
        id=f"rollback-{secrets.token_hex(3)}",
        at=time.time(),
        actor=who,
        source=name,
        source_config_hash="",
        targets=[name],
        target=name,
        result="rolled_back",
        config_hash_before=before,
        config_hash_after=config_hash,
        detail=outcome.detail or f"re-applied the configuration {name} ran before its last promotion",
    )
    _record(gateway, record, outcome)
    return outcome


def _admin(gateway: state.DeployedGateway) -> AdminClient:
    return AdminClient(gateway.admin_url, gateway.admin_token())


@contextlib.contextmanager
def _asking(stack: Stack, gateway: state.DeployedGateway) -> Iterator[AdminClient]:
    """The stack's admin API, whose failures name the stack (a promotion cannot say who is affected without it)."""
    try:
        with _admin(gateway) as admin:
            yield admin
    except LockgateError as exc:
        raise IacError(
            f"{stack.name}: its control plane at {gateway.admin_url} did not answer as expected: {exc}"
        ) from None


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr.strip() or result.stdout.strip())[-2000:]
