"""Patterns that match client input, compiled with RE2: matching is linear in the input, so no request can stall
the data plane however its path (or, later, its prompt) is crafted. RE2 has no backreferences or lookarounds;
a pattern that needs them is rejected when the config is validated, with a message that says so."""

from __future__ import annotations

from typing import Any

import re2

MAX_PATTERN_LENGTH = 1024
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own parse errors to stderr; ours name the field instead
_OPTIONS.max_mem = 8 << 20  # bounds the compiled program: a pattern too large to run cheaply is rejected


class PatternError(ValueError):
    """A pattern the linear-time engine cannot run; the message says what it cannot do."""


def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern (its `.match(text)` anchors at the start, like Python's `re.match`)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"is {len(pattern)} characters long; patterns are limited to {MAX_PATTERN_LENGTH}")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(
            f"cannot be run by the gateway's linear-time pattern engine (RE2): {reason}. RE2 supports the usual "
            "syntax but not backreferences (\\1) or lookarounds ((?=...), (?!...), (?<=...)); rewrite the pattern "
            "without them"
        ) from None


def compile_any(patterns: list[str]) -> Any:
    """One RE2 program that matches where any of `patterns` does (each checked by `compile_pattern` first), so a
    text is scanned once for all of them; PatternError if together they are too large to run cheaply."""
    try:
        return re2.compile("|".join(f"(?:{p})" for p in patterns), _OPTIONS)
    except re2.error:
        raise PatternError(
            f"together ({len(patterns)} patterns, {sum(map(len, patterns))} characters) are too large for the "
            "gateway's linear-time pattern engine (RE2) to run cheaply: use fewer or simpler patterns"
        ) from None
