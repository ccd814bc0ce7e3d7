"""Model prices, for the cost of each request: the gateway ships a catalogue (gateway_runtime/data/prices.py), and a
gateway's settings can override or add to it (`GatewaySettings.prices`)."""

from __future__ import annotations

from lockgate.sdk._base import StrictModel
from pydantic import Field

USD_PER_MILLION = Field(ge=0, le=100_000, description="USD per million tokens (at most 6 decimals count).")


class ModelPrice(StrictModel):
    """What a model costs, in USD per million tokens. It applies to `model` and to the models it is a prefix of at a
    '-', '.', ':' or '@' ('gpt-4o' prices 'gpt-4o-2024-08-06'); the longest match wins."""

    model: str = Field(min_length=1, max_length=256, description="The model name, or a prefix of names.")
    input: float = USD_PER_MILLION
    output: float = USD_PER_MILLION
    cached_input: float | None = Field(
        default=None, ge=0, le=100_000, description="USD per million prompt tokens read from a cache; `input` if unset."
    )
