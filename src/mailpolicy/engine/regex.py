"""RE2 configuration and write-time validation of user-supplied regular expressions.

Every user pattern in the service is compiled by RE2, never by Python's ``re``: RE2 runs
in time linear in the input, so a hostile pattern cannot stall mail flow. This module is
the single place where RE2 options are chosen, so validation at write time and matching
at evaluation time can never disagree about what a pattern means.
"""

from __future__ import annotations

import re2

# A cap on the compiled program keeps one pattern from dominating the memory and the
# per-message cost of the combined set it is compiled into.
MAX_PROGRAM_SIZE: int = 5000

# Per-pattern memory budget, in bytes, for RE2's compiled program and its DFA cache.
MAX_MEM: int = 8 << 20

# A combined set holds every regex of one list; its DFA cache must be large enough that
# RE2 never gives up mid-match, because a set that runs out of memory reports "no match"
# rather than an error, which would silently disable block rules.
SET_MAX_MEM_BASE: int = 64 << 20
SET_MAX_MEM_PER_PATTERN: int = 64 << 10


class RegexError(ValueError):
    """A pattern RE2 refuses, or one too complex to accept; the message is shown to users."""


def regex_options(max_mem: int = MAX_MEM) -> re2.Options:
    """The RE2 options used for every user pattern: case-insensitive, bounded memory, quiet."""
    options = re2.Options()
    options.max_mem = max_mem
    options.case_sensitive = False
    # RE2 otherwise writes every rejected pattern to stderr, which is noise for a service
    # that reports the problem to the caller instead.
    options.log_errors = False
    return options


def set_options(pattern_count: int) -> re2.Options:
    """Options for an ``re2.Set`` holding ``pattern_count`` patterns."""
    return regex_options(SET_MAX_MEM_BASE + SET_MAX_MEM_PER_PATTERN * pattern_count)


def encode_text(text: str) -> bytes:
    """A message field as RE2 reads it.

    Fields decoded upstream with ``surrogateescape`` can hold lone surrogates, which strict
    UTF-8 refuses; passing them through keeps a hostile header from raising mid-evaluation.
    """
    return text.encode("utf-8", "surrogatepass")


def full_match(compiled: re2._Regexp, text: str) -> bool:
    """Whether one compiled pattern matches the whole of ``text``."""
    return compiled.fullmatch(encode_text(text)) is not None


def _reason(exc: BaseException) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        return detail.decode("utf-8", "replace")
    return str(detail)


def check_regex(pattern: str) -> None:
    """Raise :class:`RegexError` unless ``pattern`` is a usable RE2 regular expression."""
    try:
        compiled = re2.compile(pattern, regex_options())
    except UnicodeEncodeError as exc:
        raise RegexError(f"not a valid RE2 regular expression: {exc.reason}") from None
    except re2.error as exc:
        reason = _reason(exc)
        if "pattern too large" in reason:
            raise RegexError(
                f"regular expression is too complex (it exceeds the {MAX_MEM} byte "
                "compile memory limit)"
            ) from None
        raise RegexError(f"not a valid RE2 regular expression: {reason}") from None
    size = int(compiled.programsize)
    if size > MAX_PROGRAM_SIZE:
        raise RegexError(
            f"regular expression is too complex (program size {size}, limit {MAX_PROGRAM_SIZE})"
        )
