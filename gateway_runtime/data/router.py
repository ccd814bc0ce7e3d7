"""Route matching, compiled once per snapshot: a dict of prefixes plus an ordered list of RE2 patterns (linear time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lockgate.sdk.patterns import compile_pattern

R = TypeVar("R")

# The operations served below a route's matched prefix: the client APIs (data/clients) and the model list.
OPERATIONS = {"/chat/completions": "chat", "/messages": "messages", "/embeddings": "embeddings", "/models": "models"}


@dataclass(frozen=True, slots=True)
class Match(Generic[R]):
    route: R
    operation: str | None  # None: the route matched but nothing is served at the rest of the path
    rest: str


class Router(Generic[R]):
    """Longest match wins; a prefix matches whole path segments ('/v1' matches '/v1/x', not '/v10')."""

    def __init__(self, entries: Sequence[tuple[str, R]]) -> None:
        self._prefixes: dict[str, R] = {}
        self._patterns: list[tuple[Any, R]] = []
        for path, route in entries:
            if path.startswith("~"):
                self._patterns.append((compile_pattern(path[1:]), route))
            else:
                self._prefixes[path] = route

    def match(self, path: str) -> Match[R] | None:
        best: tuple[int, R] | None = None
        prefix = path
        while True:
            route = self._prefixes.get(prefix)
            if route is not None:
                best = (len(prefix), route)
                break
            cut = prefix.rfind("/")
            if cut <= 0:
                route = self._prefixes.get("/")
                if route is not None:
                    best = (0, route)
                break
            prefix = prefix[:cut]
        for pattern, route in self._patterns:
            found = pattern.match(path)
            if found and (best is None or found.end() > best[0]) and _on_boundary(path, found.end()):
                best = (found.end(), route)
        if best is None:
            return None
        rest = path[best[0] :]
        return Match(best[1], OPERATIONS.get(rest.rstrip("/") if rest != "/" else rest), rest)


def _on_boundary(path: str, end: int) -> bool:
    return end == len(path) or path[end] == "/" or path[end - 1] == "/"
