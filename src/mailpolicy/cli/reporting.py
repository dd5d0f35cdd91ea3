"""How a command speaks: stdout for what scripts read, stderr for people, and every error told
there in a line (a few when several settings are wrong at once) with its exit status, 2 for a
bad argument or setting and 1 for anything else.

The command group `Reporting` is what turns an error inside any command into that report, so
the commands themselves only raise: a `CliError` for something the user can fix, or whatever
stopped them. The consoles live here rather than with the commands' shared context because the
report is written to one of them, and the context in turn raises `CliError`.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from alembic.util.exc import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError
from typer.core import TyperGroup

from mailpolicy.config import Settings
from mailpolicy.errors import ApiError, ValidationFailed

ENV_PREFIX = "MAILPOLICY_"
DATABASE_VARIABLE = f"{ENV_PREFIX}DATABASE_URL"
DEBUG_VARIABLE = f"{ENV_PREFIX}DEBUG"
# Several problems at once (a message with many bad recipients, say) are cut to this many lines.
MAX_ERROR_LINES = 10
USAGE = 2  # exit status for a bad argument or setting, as for Typer's own usage errors
FAILURE = 1

# Human-facing notes go to stderr so that stdout stays clean for scripts.
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class CliError(Exception):
    """Something the user can fix, said in a line (one per problem); `code` is the exit status."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def masked(url: str) -> str:
    """A database URL as it may be shown: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Whatever stands between the scheme and an @ may be a password.
        return f"{url.split(':', 1)[0]}:***@{url.rpartition('@')[2]}" if "@" in url else url


def _database_in_force() -> str:
    try:
        return masked(Settings().database_url)
    except ValidationError:
        return "the database"


def _setting_problems(exc: ValidationError) -> list[str]:
    """One line per bad MAILPOLICY_* variable, naming it (and its value, for numbers and flags)."""
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        kind = error["type"]
        if kind == "bool_parsing":
            problem = "should be true or false"
        elif kind == "int_parsing":
            problem = "should be a whole number"
        elif kind == "float_parsing":
            problem = "should be a number"
        else:
            problem = error["msg"].removeprefix("Input ").removeprefix("Value error, ")
        info = Settings.model_fields.get(field)
        if info is not None and info.annotation in (bool, int, float):
            problem += f", got {error['input']!r}"
        lines.append(f"{ENV_PREFIX}{field.upper()} {problem}")
    return lines


def _problems(exc: Exception) -> tuple[list[str], int]:
    """What stopped a command, in lines for people, and the exit status that goes with it."""
    if isinstance(exc, CliError):
        return str(exc).splitlines(), exc.code
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return _setting_problems(exc), USAGE
    if isinstance(exc, ApiError):
        return [str(exc)], USAGE if isinstance(exc, ValidationFailed) else FAILURE
    if isinstance(exc, CommandError):
        return [f"cannot migrate the database: {exc}"], FAILURE
    if isinstance(exc, StatementError) and exc.orig is not None:
        # Never the statement or its parameters: those can hold secrets' digests.
        reason = f"{exc.orig} ({type(exc.orig).__name__})"
        return [f"database {_database_in_force()}: {reason}"], FAILURE
    if isinstance(exc, SQLAlchemyError):
        return [f"database {_database_in_force()}: {exc}"], FAILURE
    if isinstance(exc, ImportError):
        return [f"a module mailpolicy needs is missing: {exc}"], FAILURE
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return [f"{where}{exc.strerror}"], FAILURE
    kind = type(exc).__name__ if type(exc).__module__ == "builtins" else type(exc).__qualname__
    detail = f": {exc}" if str(exc) else ""
    return [
        f"unexpected {kind}{detail} (run with {DEBUG_VARIABLE}=1 to see the full traceback)"
    ], FAILURE


def fail(exc: Exception) -> int:
    """Tell the user what stopped the command, in as few lines as it takes; the exit status."""
    lines, code = _problems(exc)
    lines = [_one_line(line) for line in lines] or ["failed"]
    if len(lines) > MAX_ERROR_LINES:
        more = len(lines) - MAX_ERROR_LINES + 1
        lines = [*lines[: MAX_ERROR_LINES - 1], f"... and {more} more problems"]
    for line in lines:
        err.print(f"[red]error:[/red] {escape(line)}", emoji=False)
    return code


# Typer's own exits and usage errors, and a closed pipe, are Typer's to report.
_TYPERS = (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError, EOFError)


class Reporting(TyperGroup):
    """The command group that turns any error of a command into its one-line report."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _TYPERS:
            raise
        except Exception as exc:
            if debug():
                raise
            raise typer.Exit(fail(exc)) from None
