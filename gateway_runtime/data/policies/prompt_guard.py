"""prompt_guard (request phase, 790): prompts refused by pattern, as Kong's ai-prompt-guard does
(https://developer.konghq.com/plugins/ai-prompt-guard/): a checked message that matches a deny pattern is refused;
with allow patterns, every checked message must match one.

Each list is compiled once into one RE2 alternation, so a message is scanned once per list, in time linear in its
length (the body itself is bounded by `max_body_bytes`): no prompt can hold the event loop.
"""

from __future__ import annotations

from typing import Any

from lockgate.gateway_runtime.data.policies.base import RequestContext, Respond
from lockgate.sdk import PromptGuard
from lockgate.sdk.patterns import compile_any


def _any_of(patterns: list[str]) -> Any:
    return compile_any(patterns) if patterns else None


class PromptGuardPolicy:
    name = "prompt_guard"
    priority = 790
    phase = "checked"

    def __init__(self, spec: PromptGuard) -> None:
        self._deny, self._allow = _any_of(spec.deny), _any_of(spec.allow)
        self._every_role = spec.roles == "all"
        self._message = spec.message

    def on_request(self, ctx: RequestContext) -> Respond | None:
        for said in ctx.api.texts(ctx.body):
            if not self._every_role and said.role != "user":
                continue
            denied = self._deny is not None and self._deny.search(said.text) is not None
            if denied or (self._allow is not None and self._allow.search(said.text) is None):
                return Respond(400, self._message, "prompt_refused", said.where)
        return None
