"""The pure policy engine: standard library and RE2 only."""

from mailpolicy.engine.regex import (
    MAX_MEM,
    MAX_PROGRAM_SIZE,
    RegexError,
    check_regex,
    regex_options,
)

__all__ = ["MAX_MEM", "MAX_PROGRAM_SIZE", "RegexError", "check_regex", "regex_options"]
