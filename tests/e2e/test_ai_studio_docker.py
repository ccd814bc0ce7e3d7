"""Environments x regions on one machine: two ai-studio stacks deployed side by side on Docker, in front of the
mock LLM (the documented switch), each called with the OpenAI SDK; a change deployed to one region and promoted to
the other (smoke-checked through its data-plane container); then destroyed."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import openai
import pytest

from tests.e2e.test_demo_stack import lockgate

STACKS = ("ai-studio-staging-us", "ai-studio-staging-eu")


@pytest.mark.e2e
def test_two_regions_side_by_side_on_docker(
    project: Path, isolated_home: Path, runtime_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_AI_STUDIO_UPSTREAM", "mock")
    engine = docker.from_env()
    try:
        with ThreadPoolExecutor(len(STACKS)) as pool:  # side by side: deployed at the same time
            for deployed in pool.map(lambda stack: lockgate(project, "deploy", stack, "--auto-approve"), STACKS):
                assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        urls = {}
        for stack in STACKS:
            urls[stack] = lockgate(project, "output", stack, "proxy_url").stdout
            key = lockgate(project, "output", stack, "studio_web_api_key").stdout
            client = openai.OpenAI(base_url=urls[stack] + "/v1", api_key=key, max_retries=0)
            reply = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
            assert reply.model == "gpt-4o-mini"  # the alias's model, answered by the stack's own mock
            states = json.loads(lockgate(project, "output", stack, "data_plane_states", "--json").stdout)
            assert states == [f"lockgate-{stack}-dp-0=in_sync"]
        assert len(set(urls.values())) == 2
        networks = {n.name for n in engine.networks.list(filters={"label": "dev.lockgate.role=network"})}
        assert {f"lockgate-{s}" for s in STACKS} <= networks
        regions = {
            c.labels["dev.lockgate.region"]
            for c in engine.containers.list(filters={"label": "dev.lockgate.environment=staging"})
        }
        assert regions == {"us", "eu"}

        definition = project / "stacks" / "ai_studio.py"
        definition.write_text(definition.read_text().replace('"smart": (llm, "gpt-4o")', '"smart": (llm, "gpt-4.1")'))
        assert lockgate(project, "deploy", STACKS[0], "--auto-approve").returncode == 0
        promoted = lockgate(project, "promote", *STACKS, "--apply")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert '        models[smart].model: "gpt-4o" -> "gpt-4.1"' in promoted.stdout
        assert f"{STACKS[1]}: applied, smoke check passed" in promoted.stdout
        key = lockgate(project, "output", STACKS[1], "studio_web_api_key").stdout
        client = openai.OpenAI(base_url=urls[STACKS[1]] + "/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "hi"}])
        assert reply.model == "gpt-4.1"
    finally:
        with ThreadPoolExecutor(len(STACKS)) as pool:
            for destroyed in pool.map(lambda stack: lockgate(project, "destroy", stack, "--auto-approve"), STACKS):
                assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    for stack in STACKS:
        assert not engine.containers.list(all=True, filters={"label": f"dev.lockgate.gateway={stack}"})
