"""The price catalogue that ships with the gateway, and the cost of a request in integer micro-USD.

Prices are list prices per million tokens, as the providers published them by CATALOGUE_VERSION; a gateway's
`settings.prices` overrides or adds to them (a negotiated rate, a model that came out later, a self-hosted one at 0).
A model without a price costs 0 and is logged once. Each price is turned into integer micro-USD per million tokens
when a snapshot is compiled, and a request's cost is integer arithmetic from there: sums never drift.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from lockgate.gateway_runtime.data.usage import Tokens
from lockgate.sdk import ModelPrice

log = logging.getLogger("lockgate.prices")
CATALOGUE_VERSION = "2026-11-01"
# model (or prefix) -> USD per million tokens: input, output, cached input
CATALOGUE: dict[str, tuple[float, float, float]] = {
    # OpenAI (and Azure OpenAI's deployments of the same models)
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "o3": (2.00, 8.00, 0.50),
    "o4-mini": (1.10, 4.40, 0.275),
    "text-embedding-3-small": (0.02, 0.0, 0.02),
    "text-embedding-3-large": (0.13, 0.0, 0.13),
    # Anthropic (and Bedrock's anthropic.* model ids: the part after the first '.')
    "claude-opus-4": (15.00, 75.00, 1.50),
    "claude-sonnet-4": (3.00, 15.00, 0.30),
    "claude-3-7-sonnet": (3.00, 15.00, 0.30),
    "claude-3-5-sonnet": (3.00, 15.00, 0.30),
    "claude-3-5-haiku": (0.80, 4.00, 0.08),
    # Google Gemini (prompts up to 200k tokens)
    "gemini-2.5-pro": (1.25, 10.00, 0.31),
    "gemini-2.5-flash": (0.30, 2.50, 0.075),
    "gemini-2.0-flash": (0.10, 0.40, 0.025),
    # Cohere
    "command-a": (2.50, 10.00, 2.50),
    "command-r-plus": (2.50, 10.00, 2.50),
    "command-r": (0.15, 0.60, 0.15),
}
_BOUNDARIES = "-.:@"
MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """Micro-USD per million tokens."""

    input: int
    output: int
    cached_input: int

    def cost_micros(self, tokens: Tokens) -> int:
        """What `tokens` cost, in micro-USD, rounded to the nearest."""
        cached = min(tokens.cached, tokens.prompt)
        per_million = (
            (tokens.prompt - cached) * self.input + cached * self.cached_input + tokens.completion * self.output
        )
        return (per_million + MICROS // 2) // MICROS


def _micros(usd: float) -> int:
    return round(usd * MICROS)


class PriceTable:
    """Prices by model name: an exact name, else the longest priced prefix at a boundary; a Bedrock-style
    'provider.model' id is looked up without its 'provider.' too."""

    def __init__(self, overrides: Iterable[ModelPrice] = ()) -> None:
        self._prices = {m: Price(_micros(i), _micros(o), _micros(c)) for m, (i, o, c) in CATALOGUE.items()}
        for price in overrides:
            cached = price.input if price.cached_input is None else price.cached_input
            self._prices[price.model] = Price(_micros(price.input), _micros(price.output), _micros(cached))
        self._found: dict[str, Price | None] = {}

    def cost_micros(self, model: str, tokens: Tokens) -> int:
        price = self._found.get(model)
        if price is None and model not in self._found:
            price = self._lookup(model)
            if len(self._found) < 10_000:  # bounded: model names come from clients
                self._found[model] = price
                if price is None:
                    log.warning("no price for model %.80r: its requests cost 0 (add it to the gateway's prices)", model)
        return price.cost_micros(tokens) if price is not None else 0

    def _lookup(self, model: str) -> Price | None:
        for name in (model, model.partition(".")[2], model.removeprefix("models/")):
            if not name:
                continue
            if name in self._prices:
                return self._prices[name]
            cuts = [i for i, char in enumerate(name) if char in _BOUNDARIES]
            for cut in reversed(cuts):
                found = self._prices.get(name[:cut])
                if found is not None:
                    return found
        return None
