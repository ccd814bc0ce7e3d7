"""prompt_decorator (request phase, 780): messages added before and after the client's own, as Kong's
ai-prompt-decorator does (https://developer.konghq.com/plugins/ai-prompt-decorator/)."""

from __future__ import annotations

from lockgate.gateway_runtime.data.policies.base import RequestContext, Respond
from lockgate.sdk import PromptDecorator


class PromptDecoratorPolicy:
    name = "prompt_decorator"
    priority = 780
    phase = "checked"

    def __init__(self, spec: PromptDecorator) -> None:
        self._before: list[tuple[str, str]] = [(m.role, m.content) for m in spec.prepend]
        self._after: list[tuple[str, str]] = [(m.role, m.content) for m in spec.append]

    def on_request(self, ctx: RequestContext) -> Respond | None:
        ctx.api.decorate(ctx.body, self._before, self._after)
        return None
