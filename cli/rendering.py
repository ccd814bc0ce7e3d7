"""How the `lockgate` command parses and renders: usage errors exit 1 (click's 2 is `lockgate diff`'s "there are
changes"), arguments show as `STACK` and flags without a `<bool>` type column."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

try:  # typer 0.29 vendors click; the parser raises its UsageError, not the click package's
    from typer._click.core import Context, Parameter
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - a typer that still uses the click package
    from click import Context, Parameter, UsageError  # type: ignore[assignment]

USAGE_ERROR_EXIT_CODE = 1


def _plain_params(params: list[Parameter]) -> list[Parameter]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # a flag takes no value: no type to show
        elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    return params


class LockgateCommand(TyperCommand):
    """A subcommand: `Usage: lockgate deploy [OPTIONS] STACK`."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_params(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "").upper()
                pieces.append(f"{name}..." if param.nargs != 1 else name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class LockgateGroup(TyperGroup):
    """The `lockgate` group: every usage error, its own or a subcommand's, exits 1."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain_params(super().get_params(ctx))

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as error:
            error.exit_code = USAGE_ERROR_EXIT_CODE
            raise

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:  # a subcommand's arguments are parsed here
            error.exit_code = USAGE_ERROR_EXIT_CODE
            raise
