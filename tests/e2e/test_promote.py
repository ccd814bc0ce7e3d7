"""Promotion, as a release manager runs it: the ai-studio stacks (process runtime, mock upstream) deployed as staging
and two prod regions, a change made to the one definition and deployed to staging, `lockgate promote` reporting
whom it affects from prod's own usage, applying region by region, stopping at a failed smoke check before the
second region, and rolling back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from lockgate.sdk import AdminClient, ApiKeyCreate

from tests.e2e.test_demo_stack import lockgate

STAGING, PROD_US, PROD_EU = "ai-studio-staging-us", "ai-studio-prod-us", "ai-studio-prod-eu"
STACKS = (STAGING, PROD_US, PROD_EU)


@pytest.fixture
def deployed(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LOCKGATE_AI_STUDIO_RUNTIME", "process")
    monkeypatch.setenv("LOCKGATE_AI_STUDIO_UPSTREAM", "mock")
    monkeypatch.setenv("LOCKGATE_ACTOR", "release-manager@example")
    assert lockgate(project, "synth").returncode == 0  # once, before the deploys synthesise side by side
    try:
        with ThreadPoolExecutor(len(STACKS)) as pool:
            for result in pool.map(lambda s: lockgate(project, "deploy", s, "--auto-approve"), STACKS):
                assert result.returncode == 0, result.stdout + result.stderr
        yield project
    finally:
        with ThreadPoolExecutor(len(STACKS)) as pool:
            list(pool.map(lambda s: lockgate(project, "destroy", s, "--auto-approve"), STACKS))


def change(project: Path, old: str, new: str) -> None:
    """Edit the one definition every environment is built from."""
    path = project / "stacks" / "ai_studio.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


KEYS: dict[tuple[Path, str, str], str] = {}
OUTPUTS: dict[tuple[Path, str], tuple[str, str, str]] = {}  # proxy URL, admin URL, admin token: fixed until destroy


def outputs(project: Path, stack: str) -> tuple[str, str, str]:
    if (project, stack) not in OUTPUTS:
        found = json.loads(lockgate(project, "output", stack, "--json").stdout)
        token = lockgate(project, "admin-token", stack).stdout.strip()
        OUTPUTS[project, stack] = (found["proxy_url"]["value"], found["admin_url"]["value"], token)
    return OUTPUTS[project, stack]


def client(project: Path, stack: str, consumer: str) -> openai.OpenAI:
    """The OpenAI SDK as `consumer` of `stack`, with a key of its own made in that environment (once)."""
    if (project, stack, consumer) not in KEYS:
        with admin(project, stack) as api:
            created = api.api_keys.create(ApiKeyCreate(name=f"{consumer}-test", consumer=consumer))
        KEYS[project, stack, consumer] = created.key
    return openai.OpenAI(
        base_url=outputs(project, stack)[0] + "/v1", api_key=KEYS[project, stack, consumer], max_retries=0
    )


def admin(project: Path, stack: str) -> AdminClient:
    _, url, token = outputs(project, stack)
    return AdminClient(url, token)


def ask(caller: openai.OpenAI, model: str) -> str:
    return caller.chat.completions.create(model=model, messages=[{"role": "user", "content": "one two three"}]).model


def promote(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return lockgate(project, "promote", *args)


@pytest.mark.e2e
def test_promote_reports_who_is_affected_applies_region_by_region_stops_and_rolls_back(deployed: Path) -> None:
    project = deployed
    studio, trial = client(project, PROD_US, "studio-web"), client(project, PROD_US, "trial")
    for model in ("fast", "smart", "smart", "smart"):
        ask(studio, model)
    ask(trial, "fast")

    # the change: the chat route for gold only, gold's limit halved, the smart alias on another model
    change(project, "Policy.acl(free, gold)", "Policy.acl(gold)")
    change(project, "RateLimit.per_minute(300)", "RateLimit.per_minute(150)")
    change(project, '"smart": (llm, "gpt-4o")', '"smart": (llm, "gpt-4.1")')
    drifted = promote(project, STAGING, PROD_US)
    assert drifted.returncode == 1 and f"{STAGING} does not run what its code says" in drifted.stderr
    assert lockgate(project, "deploy", STAGING, "--auto-approve").returncode == 0

    report = promote(project, STAGING, PROD_US, PROD_EU)
    assert report.returncode == 2, report.stdout + report.stderr
    text = report.stdout
    assert '        policies.acl.allow: ["free", "gold"] -> ["gold"]' in text
    assert '        models[smart].model: "gpt-4o" -> "gpt-4.1"' in text
    assert "        rate_limit.requests: 600 -> 300" in text  # prod's overlay doubles the definition's limits
    lines = text.splitlines()
    us = lines[: next(i for i, line in enumerate(lines) if line.startswith(PROD_EU))]
    with admin(project, PROD_US) as api:
        used = {(r.consumer, r.model): r for r in api.usage(group_by=("consumer", "model")).rows}
    trial_tokens = used["trial", "gpt-4o-mini"].total_tokens
    smart_tokens = used["studio-web", "gpt-4o"].total_tokens
    studio_tokens = smart_tokens + used["studio-web", "gpt-4o-mini"].total_tokens
    assert _line(us, "trial", "loses access").endswith(f"1 request, {trial_tokens:,} tokens")
    assert _line(us, "studio-web", "lower limit").endswith(f"4 requests, {studio_tokens:,} tokens")
    assert "rate limit: 600/60s -> 300/60s" in _line(us, "studio-web", "lower limit")
    assert _line(us, "studio-web", "model change").endswith(f"3 requests, {smart_tokens:,} tokens")
    assert "expected cost of a day like the last 24 h" in "\n".join(us)

    applied = promote(project, STAGING, PROD_US, PROD_EU, "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"{PROD_US}: applying (the canary) ..." in applied.stdout
    for stack in (PROD_US, PROD_EU):
        assert f"{stack}: applied, smoke check passed" in applied.stdout
        with pytest.raises(openai.PermissionDeniedError):
            ask(client(project, stack, "trial"), "fast")
        assert ask(client(project, stack, "studio-web"), "smart") == "gpt-4.1"
    unchanged = promote(project, STAGING, PROD_US, PROD_EU)  # prod runs exactly its code: nothing left to do
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert unchanged.stdout.count("nothing to do: it runs what the source runs") == 2
    with admin(project, STAGING) as api:
        staging_hash = api.status().config_hash
    with admin(project, PROD_US) as api:
        [record] = api.promotions().promotions
        served = api.status().config_hash
    assert (record.result, record.source, record.source_config_hash) == ("applied", STAGING, staging_hash)
    assert (record.actor, record.targets, record.config_hash_after) == (
        "release-manager@example",
        [PROD_US, PROD_EU],
        served,
    )

    # a change that locks the smoke check's consumer out: the canary fails its check, the second region is untouched
    change(project, "Policy.acl(gold)", "Policy.acl(free)")
    assert lockgate(project, "deploy", STAGING, "--auto-approve").returncode == 0
    stopped = promote(project, STAGING, PROD_US, PROD_EU, "--apply")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert f"{PROD_US}: smoke failed: smoke request to " in stopped.stdout and "answered 403" in stopped.stdout
    assert f"lockgate promote --rollback {PROD_US}" in stopped.stdout
    assert f"stopped: {PROD_EU} left untouched" in stopped.stdout
    # what a pipeline reads for the untouched region: studio-web loses access there, trial gains it
    piped = promote(project, STAGING, PROD_EU, "--format", "json")
    assert piped.returncode == 2, piped.stdout + piped.stderr
    [target] = json.loads(piped.stdout)["targets"]
    effects = {(e["consumer"], e["effect"]) for e in target["consumers"]}
    assert ("studio-web", "loses_access") in effects and ("trial", "gains_access") in effects
    assert target["terraform"] == {"add": 0, "change": 1, "destroy": 0}
    assert ask(client(project, PROD_EU, "studio-web"), "fast") == "gpt-4o-mini"  # still the config before
    with admin(project, PROD_EU) as api:
        assert [p.result for p in api.promotions().promotions] == ["applied"]
    with admin(project, PROD_US) as api:
        assert [p.result for p in api.promotions().promotions] == ["smoke_failed", "applied"]

    rolled = promote(project, "--rollback", PROD_US)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert ask(client(project, PROD_US, "studio-web"), "smart") == "gpt-4.1"  # the config promoted before
    with pytest.raises(openai.PermissionDeniedError):
        ask(client(project, PROD_US, "trial"), "fast")
    with admin(project, PROD_US) as api:
        assert api.status().config_hash == served
        assert [p.result for p in api.promotions().promotions] == ["rolled_back", "smoke_failed", "applied"]
    assert httpx.get(outputs(project, PROD_US)[1] + "/health").status_code == 200


def _line(lines: list[str], consumer: str, effect: str) -> str:
    found = [line for line in lines if line.strip().startswith(consumer) and f"  {effect}  " in line]
    assert len(found) == 1, (consumer, effect, lines)
    return found[0]
