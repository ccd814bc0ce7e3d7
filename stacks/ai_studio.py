"""Stacks `ai-studio-{staging,prod}-{us,eu}`: one definition of the AI Studio gateway (`AiStudioStack.define`),
deployed per environment and region with that environment's overlay (prod: twice the limits, two data planes).
`lockgate promote ai-studio-staging-us ai-studio-prod-us ai-studio-prod-eu` moves a change that staging runs to
prod, region by region.

Each runs on Docker (a control plane and its data planes, on a network and ports of its own, so all four run side by
side on one machine); LOCKGATE_AI_STUDIO_RUNTIME=process runs them as local processes instead. They call real OpenAI
by default (`env:OPENAI_API_KEY`, handed to the data planes and resolved there); with LOCKGATE_AI_STUDIO_UPSTREAM=mock
they call a mock LLM instead, so they deploy and can be tested without a key. Synthesis needs neither Docker nor the
key.
"""

from __future__ import annotations

import os

from cdktn import TerraformOutput
from lockgate.constructs import (
    DockerRuntime,
    Environment,
    EnvironmentStack,
    Gateway,
    LlmUpstream,
    MockLlm,
    Overlay,
    Policy,
    ProcessRuntime,
    RateLimit,
)

from constructs import Construct

UPSTREAM_SWITCH = "LOCKGATE_AI_STUDIO_UPSTREAM"  # "openai" (the default) or "mock"
RUNTIME_SWITCH = "LOCKGATE_AI_STUDIO_RUNTIME"  # "docker" (the default) or "process"

STAGING = Overlay(data_planes=1)
PROD = Overlay(limits_scale=2, data_planes=2)
ENVIRONMENTS = [
    Environment("staging", "us", STAGING),
    Environment("staging", "eu", STAGING),
    Environment("prod", "us", PROD),
    Environment("prod", "eu", PROD),
]


class AiStudioStack(EnvironmentStack):
    app = "ai-studio"

    def __init__(self, scope: Construct, environment: Environment) -> None:
        self.mocked = os.environ.get(UPSTREAM_SWITCH, "openai") == "mock"
        runtime: DockerRuntime | ProcessRuntime = DockerRuntime(
            pass_env=() if self.mocked else ("OPENAI_API_KEY",)  # the key the data planes resolve, from Terraform's env
        )
        if os.environ.get(RUNTIME_SWITCH, "docker") == "process":
            runtime = ProcessRuntime()
        super().__init__(scope, environment, runtime)

    def define(self, gateway: Gateway) -> None:
        if self.mocked:
            mock = MockLlm(self, "mock-llm", name=f"{gateway.name}-mock", gateway=gateway)
            llm = LlmUpstream.mock(self, "openai", gateway=gateway, mock=mock, model=None)
        else:
            llm = LlmUpstream.openai(self, "openai", gateway=gateway)
        free = gateway.add_consumer_group("free", rate_limit=RateLimit.per_minute(10))
        gold = gateway.add_consumer_group("gold", rate_limit=RateLimit.per_minute(300))
        chat = gateway.add_route(
            "chat",
            upstream=llm,
            paths=["/v1"],
            models={"fast": (llm, "gpt-4o-mini"), "smart": (llm, "gpt-4o")},
            policies=[Policy.key_auth(), Policy.acl(free, gold), Policy.usage()],
        )
        # the environment's own consumers: promotion never copies consumers or keys between environments
        studio = gold.add_consumer("studio-web")
        free.add_consumer("trial")
        self.smoke_check(chat, studio, model="fast")
        TerraformOutput(self, "proxy_url", value=gateway.proxy_url)
        TerraformOutput(self, "proxy_urls", value=gateway.proxy_urls, description="one per data plane")
        TerraformOutput(self, "admin_url", value=gateway.admin_url)
        TerraformOutput(self, "data_plane_states", value=gateway.data_plane_states)
        TerraformOutput(self, "studio_web_api_key", value=studio.api_key, sensitive=True)
