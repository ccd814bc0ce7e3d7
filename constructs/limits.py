"""RateLimit, TokenLimit, CostBudget and ModelPrice for construct code: the SDK's models, whose errors name the field,
the value and the allowed range (and, when one is built inside a construct, that construct's path and the line)
instead of a pydantic traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import lockgate.sdk
from lockgate.constructs.errors import ConstructValidationError, describe
from lockgate.sdk import CostBudget as CostBudgetModel
from lockgate.sdk import ModelPrice as ModelPriceModel
from lockgate.sdk import RateLimit as RateLimitModel
from lockgate.sdk import TokenLimit as TokenLimitModel
from pydantic import BaseModel, ValidationError

from constructs import Construct

# frames in these folders are lockgate's own (the SDK's factories, this module): the user's code is further out
_OWN = (Path(__file__).resolve().parent, Path(lockgate.sdk.__file__).resolve().parent)


class RateLimit(RateLimitModel):
    """At most `requests` requests per consumer per window: `RateLimit.per_minute(600)`, `.per_second(10)`."""

    def __init__(self, **data: Any) -> None:
        _build(self, RateLimitModel, data, sys._getframe(1))


class TokenLimit(TokenLimitModel):
    """Tokens per consumer per minute, hour or day: `TokenLimit(per_minute=10_000, per_day=1_000_000)`."""

    def __init__(self, **data: Any) -> None:
        _build(self, TokenLimitModel, data, sys._getframe(1))


class CostBudget(CostBudgetModel):
    """USD per consumer per day or month: `CostBudget(usd=50)` (a month), `CostBudget(usd=5, per="day")`."""

    def __init__(self, **data: Any) -> None:
        _build(self, CostBudgetModel, data, sys._getframe(1))


class ModelPrice(ModelPriceModel):
    """A model's price in USD per million tokens: `ModelPrice(model="gpt-4o", input=2.5, output=10)`."""

    def __init__(self, **data: Any) -> None:
        _build(self, ModelPriceModel, data, sys._getframe(1))


def _build(instance: BaseModel, model: type[BaseModel], data: dict[str, Any], caller: FrameType) -> None:
    try:
        model.__init__(instance, **data)
    except ValidationError as exc:
        problems = "; ".join(f"{model.__name__}.{problem}" for problem in describe(model, exc))
        raise ConstructValidationError(_where(caller) + problems) from None


def _where(frame: FrameType | None) -> str:
    """ "PATH (FILE:LINE): " for the construct whose code built the RateLimit, "" outside any construct.

    The limit is an argument (`add_consumer_group("gold", rate_limit=RateLimit.per_minute(-5))`), evaluated before
    the construct it is for exists: the nearest is the one running the code, and the line says which call."""
    location = ""
    while frame is not None:
        file = Path(frame.f_code.co_filename)
        internal = any(file.is_relative_to(folder) for folder in _OWN) or "pydantic" in file.parts
        if not internal and not location:
            location = f"{_relative(file)}:{frame.f_lineno}"
        scope = frame.f_locals.get("self")
        if not internal and isinstance(scope, Construct):
            try:
                return f"{scope.node.path} ({location}): "
            except Exception:  # a construct whose __init__ has not reached super().__init__ yet has no node
                return f"{location}: "
        frame = frame.f_back
    return ""


def _relative(file: Path) -> str:
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)
