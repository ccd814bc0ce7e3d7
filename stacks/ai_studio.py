"""Stacks `ai-studio-{staging,prod}-{us,eu}`: the AI Studio gateway per environment and region, each on Docker (a
control plane and its data planes, on a network and ports of its own, so all four run side by side on one machine).

They call real OpenAI by default (`env:OPENAI_API_KEY`, handed to the data planes and resolved there); with
LOCKGATE_AI_STUDIO_UPSTREAM=mock in the environment they call a mock LLM container instead, so they deploy and
can be tested without a key. Synthesis needs neither Docker nor the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cdktn import TerraformOutput, TerraformStack
from lockgate.constructs import DockerRuntime, Gateway, LlmUpstream, MockLlm, Policy, RateLimit

from constructs import Construct

UPSTREAM_SWITCH = "LOCKGATE_AI_STUDIO_UPSTREAM"  # "openai" (the default) or "mock"


@dataclass(frozen=True)
class Environment:
    name: str
    region: str
    model: str
    free_per_minute: int
    gold_per_minute: int
    data_planes: int


ENVIRONMENTS = [
    Environment("staging", "us", "gpt-4o-mini", 10, 60, 1),
    Environment("staging", "eu", "gpt-4o-mini", 10, 60, 1),
    Environment("prod", "us", "gpt-4o", 20, 600, 2),
    Environment("prod", "eu", "gpt-4o", 20, 600, 2),
]


class AiStudioStack(TerraformStack):
    def __init__(self, scope: Construct, env: Environment) -> None:
        name = f"ai-studio-{env.name}-{env.region}"
        super().__init__(scope, name)
        mocked = os.environ.get(UPSTREAM_SWITCH, "openai") == "mock"
        runtime = DockerRuntime(
            data_planes=env.data_planes,
            environment=env.name,
            region=env.region,
            pass_env=() if mocked else ("OPENAI_API_KEY",),  # the key the data planes resolve, from Terraform's env
        )
        gateway = Gateway(self, "gateway", name=name, runtime=runtime)
        if mocked:
            mock = MockLlm(self, "mock-llm", name=f"{name}-mock", gateway=gateway)
            llm = LlmUpstream.mock(self, "openai", gateway=gateway, mock=mock, model=env.model)
        else:
            llm = LlmUpstream.openai(self, "openai", gateway=gateway, model=env.model)
        free = gateway.add_consumer_group("free", rate_limit=RateLimit.per_minute(env.free_per_minute))
        gold = gateway.add_consumer_group("gold", rate_limit=RateLimit.per_minute(env.gold_per_minute))
        gateway.add_route(
            "chat", upstream=llm, paths=["/v1"], policies=[Policy.key_auth(), Policy.acl(free, gold), Policy.usage()]
        )
        studio = gold.add_consumer("studio-web")
        free.add_consumer("trial")
        TerraformOutput(self, "proxy_url", value=gateway.proxy_url)
        TerraformOutput(self, "proxy_urls", value=gateway.proxy_urls, description="one per data plane")
        TerraformOutput(self, "admin_url", value=gateway.admin_url)
        TerraformOutput(self, "data_plane_states", value=gateway.data_plane_states)
        TerraformOutput(self, "studio_web_api_key", value=studio.api_key, sensitive=True)
