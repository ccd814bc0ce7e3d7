"""What `lockgate promote` prints: the report per target (the changes in the gateway's terms, who is affected with
their traffic, the cost of a day like the last), the outcomes, and the same as JSON for pipelines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lockgate.cli.impact import FieldChange, as_json
from lockgate.cli.promote import Outcome, Run, Target

MAX_ROWS = 50  # consumers listed per target in text (JSON lists them all)


def report_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "source": {"stack": run.source.stack.name, "config_hash": run.source.config_hash},
        "targets": [
            {
                "stack": t.stack.name,
                "deployed": t.gateway is not None,
                "config_hash": t.config_hash,
                "terraform": {"add": t.next.add, "change": t.next.change, "destroy": t.next.destroy},
                "runtime": [as_json_field(c) for c in t.next.runtime],
                **as_json(t.impact),
            }
            for t in run.targets
        ],
        "outcomes": [o.__dict__ for o in run.outcomes],
    }


def as_json_field(change: FieldChange) -> dict[str, Any]:
    return {"path": change.path, "before": change.before, "after": change.after}


def rollback_text(outcome: Outcome) -> str:
    if outcome.detail:
        return f"{outcome.target}: rolled back, but {outcome.detail}"
    return (
        f"{outcome.target}: rolled back to the configuration it ran before its last promotion (config "
        f"{outcome.config_hash[:12]}). Its code still says the promoted one (`lockgate diff {outcome.target}`): "
        "fix the definition, deploy the source, and promote again."
    )


def report_text(run: Run) -> str:
    source = run.source
    lines = [
        f"Promoting {source.stack.name} (config {source.config_hash[:12]}: no drift, healthy) to "
        f"{', '.join(t.stack.name for t in run.targets)}",
    ]
    for target in run.targets:
        lines += ["", *_target_text(target)]
    return "\n".join(lines)


def _target_text(target: Target) -> list[str]:
    plan = target.next
    runs = f"runs config {target.config_hash[:12]}" if target.gateway is not None else "not deployed yet"
    lines = [
        f"{target.stack.name} ({runs}; Terraform: {plan.add} to add, {plan.change} to change, {plan.destroy} to "
        "destroy)"
    ]
    result = target.impact
    if not target.changes:
        return [*lines, "  nothing to do: it runs what the source runs"]
    lines.append("  changes")
    for change in result.changes:
        mark = {"added": "+", "changed": "~", "removed": "-"}[change.action]
        lines.append(f"    {mark} {change.kind} {change.name}".rstrip())
        lines += [f"        {f.path}: {_value(f.before)} -> {_value(f.after)}" for f in change.fields]
    for field_change in plan.runtime:
        path, before, after = field_change.path, _value(field_change.before), _value(field_change.after)
        lines.append(f"    ~ runtime {path}: {before} -> {after}")
    if not result.changes and not plan.runtime:
        lines.append("    (none in the gateway's terms: consumers or keys of the target's own)")
    if target.gateway is None:
        return lines
    lines.append("  who is affected (with their traffic over the last 24 h)")
    if not result.consumers:
        lines.append("    no consumer")
    table = [
        (e.consumer, e.effect.replace("_", " "), e.detail, _volume(e.volume.requests, e.volume.tokens))
        for e in result.consumers
    ]
    lines += _columns(table[:MAX_ROWS])
    if len(table) > MAX_ROWS:
        lines.append(f"    ... and {len(table) - MAX_ROWS} more (--format json lists them all)")
    if result.groups:
        lines.append("  groups")
        rows = [
            (
                f"{g.group} ({g.consumers} consumer{'s' if g.consumers != 1 else ''})",
                g.effect.replace("_", " "),
                g.detail,
                _volume(g.volume.requests, g.volume.tokens),
            )
            for g in result.groups
        ]
        lines += _columns(rows[:MAX_ROWS])
    was, will = result.cost_before_micros, result.cost_after_micros
    if was != will:
        lines.append(
            f"  expected cost of a day like the last 24 h: {_usd(was)} -> {_usd(will)} "
            f"({'+' if will > was else '-'}{_usd(abs(will - was))} a day)"
        )
    return lines


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["    " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows]


def _volume(requests: int, tokens: int) -> str:
    return f"{requests:,} request{'s' if requests != 1 else ''}, {tokens:,} tokens"


def _usd(micros: int) -> str:
    return f"${micros / 1_000_000:,.2f}" if micros >= 10_000 else f"${micros / 1_000_000:.6f}"


def _value(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": ")) if value is not None else "(none)"
