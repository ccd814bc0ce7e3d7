"""Stacks `ai-studio-{staging,prod}-{us,eu}`: the AI Studio gateway per environment and region, in front of real
OpenAI (`env:OPENAI_API_KEY`, resolved by the runtime). Deploying needs the key; synthesis does not."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformOutput, TerraformStack
from lockgate.constructs import Gateway, LlmUpstream, Policy, RateLimit

from constructs import Construct


@dataclass(frozen=True)
class Environment:
    name: str
    region: str
    model: str
    free_per_minute: int
    gold_per_minute: int


ENVIRONMENTS = [
    Environment("staging", "us", "gpt-4o-mini", 10, 60),
    Environment("staging", "eu", "gpt-4o-mini", 10, 60),
    Environment("prod", "us", "gpt-4o", 20, 600),
    Environment("prod", "eu", "gpt-4o", 20, 600),
]


class AiStudioStack(TerraformStack):
    def __init__(self, scope: Construct, env: Environment) -> None:
        super().__init__(scope, f"ai-studio-{env.name}-{env.region}")
        gateway = Gateway(self, "gateway", name=f"ai-studio-{env.name}-{env.region}")
        openai = LlmUpstream.openai(self, "openai", gateway=gateway, model=env.model)
        free = gateway.add_consumer_group("free", rate_limit=RateLimit.per_minute(env.free_per_minute))
        gold = gateway.add_consumer_group("gold", rate_limit=RateLimit.per_minute(env.gold_per_minute))
        gateway.add_route(
            "chat", upstream=openai, paths=["/v1"], policies=[Policy.key_auth(), Policy.acl(free, gold), Policy.usage()]
        )
        studio = gold.add_consumer("studio-web")
        free.add_consumer("trial")
        TerraformOutput(self, "proxy_url", value=gateway.proxy_url)
        TerraformOutput(self, "admin_url", value=gateway.admin_url)
        TerraformOutput(self, "studio_web_api_key", value=studio.api_key, sensitive=True)
