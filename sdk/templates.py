"""Templates (prompt templates, error bodies) in jinja2's immutable sandbox, with the work a render can do bounded:
no attribute access to Python internals, no includes, imports or macros (nothing to load, no recursion), no loop
inside a loop, `range` up to MAX_RANGE, `*` and `**` that cannot build a huge value, and the output cut off at a
size limit. A template is checked when the config is validated; the messages name what is not allowed.

jinja2 is imported on first use: a gateway whose config has no template does not carry it (about 2 MB)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

MAX_RANGE = 1000  # items a template's range() may make
MAX_PRODUCT = 1 << 16  # characters or items a template's `*` may make
MAX_SOURCE = 65_536


class TemplateError(ValueError):
    """A template that cannot be used, or a render that failed; the message says why."""


class TooLong(TemplateError):
    """A render that made more than its limit."""


def _range(*args: int) -> range:
    from jinja2.exceptions import SecurityError

    made = range(*args)
    if len(made) > MAX_RANGE:
        raise SecurityError(f"range() of {len(made)} items; templates may make {MAX_RANGE}")
    return made


@cache
def _environment() -> Any:
    import jinja2
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError(f"a power of {right} is larger than templates may compute (at most 64)")
            if operator == "*":
                for sized, times in ((left, right), (right, left)):
                    made = len(sized) * times if isinstance(sized, str | list | tuple) and isinstance(times, int) else 0
                    if made > MAX_PRODUCT:
                        raise SecurityError(f"'*' would make {made} items; templates may make {MAX_PRODUCT}")
            return super().call_binop(context, operator, left, right)

    env = Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals = {"range": _range, "dict": dict}
    return env


def compile_template(source: str) -> jinja2.Template:
    """The compiled template; TemplateError naming the line for a syntax error or a construct not allowed."""
    if len(source) > MAX_SOURCE:
        raise TemplateError(f"is {len(source)} characters long; templates are limited to {MAX_SOURCE}")
    import jinja2
    from jinja2 import nodes

    not_allowed = {
        nodes.Include: "include",
        nodes.Extends: "extends",
        nodes.Import: "import",
        nodes.FromImport: "from ... import",
        nodes.Macro: "macro",
        nodes.CallBlock: "call",
    }
    env = _environment()
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"is not valid: {exc.message} (line {exc.lineno})") from None
    for kind, name in not_allowed.items():
        for node in tree.find_all(kind):
            raise TemplateError(f"uses '{name}' (line {node.lineno}), which templates may not: write the text inline")
    for loop in tree.find_all(nodes.For):
        for inner in loop.find_all(nodes.For):
            raise TemplateError(f"has a loop inside a loop (line {inner.lineno}); templates may not nest loops")
    compiled: jinja2.Template = env.from_string(tree)
    return compiled


def render(template: jinja2.Template, variables: Mapping[str, Any], limit: int) -> str:
    """The template rendered with `variables`; TemplateError for a variable it needs and did not get (naming it),
    for what the sandbox refused, or for output longer than `limit` characters."""
    import jinja2
    from jinja2.exceptions import SecurityError

    out: list[str] = []
    size = 0
    try:
        for piece in template.generate(variables):
            size += len(piece)
            if size > limit:
                raise TooLong(f"renders to more than {limit} characters")
            out.append(piece)
    except TemplateError:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"uses a variable that was not given: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"was stopped: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:  # e.g. a filter given a value it cannot take
        raise TemplateError(f"failed: {type(exc).__name__}: {str(exc)[:200]}") from None
    return "".join(out)
