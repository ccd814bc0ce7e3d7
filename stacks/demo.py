"""Stack `demo`: a local gateway (process driver) in front of the mock LLM; one route with a system prompt
(prompt decorator) and a prompt-injection guard, one rate-limited group, one consumer with a key."""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack
from lockgate.constructs import Gateway, LlmUpstream, MockLlm, Policy, RateLimit

from constructs import Construct

DEMO_REQUESTS_PER_MINUTE = 5
SYSTEM_PROMPT = "You are the lockgate demo assistant: answer briefly."
INJECTION = r"(?i)\b(ignore|disregard) (all |any )?(previous|prior|above) (instructions|prompts)"


class DemoStack(TerraformStack):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        mock = MockLlm(self, "mock-llm")
        gateway = Gateway(self, "demo")
        llm = LlmUpstream.mock(self, "mock", gateway=gateway, mock=mock)
        team = gateway.add_consumer_group("demo-team", rate_limit=RateLimit.per_minute(DEMO_REQUESTS_PER_MINUTE))
        policies = [
            Policy.key_auth(),
            Policy.acl(team),
            Policy.prompt_decorator(prepend=[SYSTEM_PROMPT]),
            Policy.prompt_guard(deny=[INJECTION], message="Prompt refused: it tries to override the instructions."),
            Policy.usage(),
        ]
        gateway.add_route("chat", upstream=llm, paths=["/v1"], policies=policies)
        alice = team.add_consumer("alice")

        TerraformOutput(self, "proxy_url", value=gateway.proxy_url, description="OpenAI base_url is PROXY_URL/v1")
        TerraformOutput(self, "admin_url", value=gateway.admin_url)
        TerraformOutput(self, "demo_api_key", value=alice.api_key, sensitive=True)
