"""rate_limit (access phase, 900): the consumer's request limits (its own over its groups'), each a fixed window,
429 with Retry-After; then, once the request is checked, its token limits and cost budgets reserve the prompt's
estimate plus its completion cap (all or none; budgets.py settles them with what the provider counted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lockgate.gateway_runtime.data import estimate
from lockgate.gateway_runtime.data.budgets import Budget, BudgetTable, Hold, Refusal
from lockgate.gateway_runtime.data.limits import Limiter, whose
from lockgate.gateway_runtime.data.policies.base import Access, Respond
from lockgate.gateway_runtime.data.prices import PriceTable
from lockgate.gateway_runtime.data.usage import Tokens


def rate_limit(limiter: Limiter, access: Access) -> Respond | None:
    assert access.consumer is not None
    for limit in access.consumer.limits:
        verdict = limiter.hit(access.consumer.name, limit)
        access.response_headers["x-ratelimit-limit-requests"] = str(verdict.limit)
        access.response_headers["x-ratelimit-remaining-requests"] = str(verdict.remaining)
        if not verdict.allowed:
            return Respond(
                429,
                f"Rate limit reached for consumer '{access.consumer.name}': {limit.requests} requests per "
                f"{limit.window_s}s ({whose(limit.group)}). Retry after {verdict.retry_after_s}s.",
                "rate_limit_exceeded",
                headers={**access.response_headers, "Retry-After": str(verdict.retry_after_s)},
            )
    return None


def reserve(
    table: BudgetTable,
    access: Access,
    budgets: Sequence[Budget],
    body: dict[str, Any],
    model: str,
    prices: PriceTable,
    completion_reserve: int,
) -> list[Hold] | Respond:
    """Admit before: the prompt's estimate plus its max_tokens (or the reserve), and what that would cost."""
    assert access.consumer is not None
    prompt = estimate.prompt_tokens(body)
    completion = estimate.completion_cap(body) or completion_reserve
    cost = prices.cost_micros(model, Tokens(prompt, completion, prompt + completion))
    admitted = table.admit(
        access.consumer.name, [(b, prompt + completion if b.kind == "tokens" else cost) for b in budgets]
    )
    if not isinstance(admitted, Refusal):
        return admitted
    code = "token_limit_exceeded" if admitted.budget.kind == "tokens" else "cost_budget_exceeded"
    headers = {**access.response_headers, **admitted.headers()}
    return Respond(429, admitted.message(access.consumer.name), code, headers=headers)
