"""Plan a consumer batch (sdk/batch.py) against the state: the `Change` it makes, what it counts, the keys it
generates, or every row it cannot apply (then nothing is applied).

A row may only touch its owner's consumers; a consumer's keys follow their consumer. Planning only reads the state,
so it runs off the event loop while the gateway keeps serving.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from lockgate.gateway_runtime.control.state import Change, Entity, Problem, State
from lockgate.sdk import ApiKey, Consumer
from lockgate.sdk.batch import SAMPLE_SIZE, BatchChanges, ConsumerRow, GeneratedKey
from lockgate.sdk.kinds import Loc

KEY_PREFIX = "lg-"
MAX_PROBLEMS = 100


def generate_key() -> tuple[str, str]:
    """A new API key and its hex SHA-256."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RowProblem:
    index: int
    name: str | None
    loc: Loc
    message: str

    def __str__(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.loc)
        consumer = f" (consumer {self.name[:64]!r})" if self.name else ""
        return f"rows[{self.index}]{where}{consumer}: {self.message}"


@dataclass
class BatchPlan:
    change: Change = field(default_factory=Change)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    generated: int = 0
    keys: list[GeneratedKey] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def examples(self) -> BatchChanges:
        return BatchChanges(
            created=self.created[:SAMPLE_SIZE], updated=self.updated[:SAMPLE_SIZE], deleted=self.deleted[:SAMPLE_SIZE]
        )


def plan_batch(
    state: State,
    rows: Iterable[tuple[int, ConsumerRow]],
    owner: str,
    prune: bool,
    dry_run: bool,
    problems: list[RowProblem],
    adopt_from: str | None = None,
) -> BatchPlan:
    """`rows` are (index in the input, row); `problems` holds the rows already refused as data. Nothing in the plan
    is applied if it has any problem. Rows naming consumers of `adopt_from` take them over (Terraform import)."""
    plan = BatchPlan(problems=problems)
    now = time.time()
    seen: dict[str, int] = {}
    for index, row in rows:
        if len(plan.problems) >= MAX_PROBLEMS:
            break
        if row.name in seen:
            plan.problems.append(RowProblem(index, row.name, ("name",), f"repeats rows[{seen[row.name]}]"))
            continue
        seen[row.name] = index
        _plan_row(state, plan, index, row, owner, now, dry_run, adopt_from)
    if prune and not plan.problems:
        for name, entity in state.entities["consumers"].items():
            if entity.owner == owner and name not in seen:
                _drop_consumer(state, plan.change, name)
                plan.deleted.append(name)
    if not plan.problems:
        _check(state, plan, seen)
    return plan


def _plan_row(
    state: State,
    plan: BatchPlan,
    index: int,
    row: ConsumerRow,
    owner: str,
    now: float,
    dry: bool,
    adopt_from: str | None,
) -> None:
    def refuse(loc: Loc, message: str) -> None:
        plan.problems.append(RowProblem(index, row.name, loc, message))

    current = state.get("consumers", row.name)
    if current is not None and current.owner not in (owner, adopt_from):
        refuse(
            ("name",),
            f"consumer {row.name!r} is owned by {current.owner!r}, and a batch of {owner!r} changes only its own "
            "consumers: remove the row, rename it, or adopt the consumer first (POST /consumers/NAME/adopt)",
        )
        return
    if row.delete:
        if current is not None:
            _drop_consumer(state, plan.change, row.name)
            plan.deleted.append(row.name)
        else:
            plan.unchanged += 1
        return
    for at, group in enumerate(row.groups):
        if state.get("consumer_groups", group) is None:
            refuse(("groups", at), f"consumer group {group!r} does not exist; create it first or fix the name")
    spec = Consumer(
        name=row.name,
        groups=row.groups,
        rate_limit=row.rate_limit,
        token_limit=row.token_limit,
        cost_budget=row.cost_budget,
    )
    changed = current is None or current.spec != spec or current.owner != owner
    if changed:
        plan.change.put("consumers", _entity(current, spec, owner, now))

    held = {name for kind, name in state.referrers("consumers", row.name) if kind == "api_keys"}
    named: dict[str, int] = {}
    for at, key_row in enumerate(row.keys):
        if key_row.name in named:
            refuse(("keys", at, "name"), f"repeats keys[{named[key_row.name]}]: one entry per key name")
            continue
        named[key_row.name] = at
        key = state.get("api_keys", key_row.name)
        if key is not None and cast(ApiKey, key.spec).consumer != row.name:
            holder = cast(ApiKey, key.spec).consumer
            refuse(("keys", at, "name"), f"API key {key_row.name!r} belongs to consumer {holder!r}; pick another name")
            continue
        held.discard(key_row.name)
        old = cast(ApiKey, key.spec) if key is not None else None
        digest, prefix = key_row.key_sha256, ""
        if digest is None and old is not None:
            digest, prefix = old.key_sha256, old.key_prefix  # generated once, kept since
        elif digest is None:
            secret, digest = generate_key()
            prefix = secret[:6]
            plan.generated += 1
            if not dry:  # a dry run shows no key: none is made
                plan.keys.append(GeneratedKey(name=key_row.name, consumer=row.name, key=secret))
        elif old is not None and old.key_sha256 == digest:
            prefix = old.key_prefix
        spec_key = ApiKey(
            name=key_row.name, consumer=row.name, key_sha256=digest, key_prefix=prefix, expires_at=key_row.expires_at
        )
        if old is None or old != spec_key or key is None or key.owner != owner:
            plan.change.put("api_keys", _entity(key, spec_key, owner, now))
            changed = True
    for name in held:  # keys the row no longer lists
        plan.change.drop("api_keys", name)
        changed = True
    if current is None:
        plan.created.append(row.name)
    elif changed:
        plan.updated.append(row.name)
    else:
        plan.unchanged += 1


def _entity(current: Entity | None, spec: Consumer | ApiKey, owner: str, now: float) -> Entity:
    if current is None:
        return Entity(str(uuid.uuid4()), now, now, spec, owner)
    return Entity(current.id, current.created_at, now, spec, owner)


def _drop_consumer(state: State, change: Change, name: str) -> None:
    for kind, user in state.referrers("consumers", name):
        if kind == "api_keys":
            change.drop("api_keys", user)
    change.drop("consumers", name)


def _check(state: State, plan: BatchPlan, rows: dict[str, int]) -> None:
    """What only the whole batch shows (a key hash used twice), located at its row."""
    for problem in _first(state.problems(plan.change), MAX_PROBLEMS):
        plan.problems.append(_located(state, plan.change, problem, rows))


def _located(state: State, change: Change, problem: Problem, rows: dict[str, int]) -> RowProblem:
    kind, name = problem.key
    if kind != "api_keys":
        return RowProblem(rows.get(name, -1), name, problem.loc, problem.message)
    entity = change.puts.get(problem.key) or state.get("api_keys", name)
    consumer = cast(ApiKey, entity.spec).consumer if entity is not None else name
    return RowProblem(rows.get(consumer, -1), consumer, ("keys",), f"API key {name!r}: {problem.message}")


def _first(problems: Iterable[Problem], limit: int) -> list[Problem]:
    found: list[Problem] = []
    for problem in problems:
        found.append(problem)
        if len(found) >= limit:
            break
    return found
