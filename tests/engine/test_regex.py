"""check_regex, the shared RE2 options, and how regex entries behave in a snapshot."""

from __future__ import annotations

from typing import Any

import pytest
import re2

from mailpolicy.engine import (
    MAX_PROGRAM_SIZE,
    BlockedSenderRule,
    RegexError,
    TrustedDomainRule,
    build_snapshot,
    check_regex,
    regex_options,
)
from mailpolicy.engine import index as index_module
from mailpolicy.engine.index import build_regex_set


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param(r".*@example\.com", id="address-suffix"),
        pytest.param(r"(mail|smtp)[0-9]*\.example\.(com|net)", id="alternation"),
        pytest.param(r"10\.0\.[0-9]+\.[0-9]+", id="ip-shaped"),
        pytest.param(r"\p{Greek}+@example\.com", id="unicode-class"),
        pytest.param("a" * 1000, id="long-literal"),
    ],
)
def test_check_regex_accepts(pattern: str) -> None:
    check_regex(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("(", "not a valid RE2 regular expression: missing )", id="unbalanced"),
        pytest.param("[a-", "not a valid RE2 regular expression", id="open-class"),
        pytest.param(r"(a)\1", "not a valid RE2 regular expression", id="backreference"),
        pytest.param(r"(?=a)", "not a valid RE2 regular expression", id="lookahead"),
        pytest.param("(a{100}){100}", "invalid repetition size", id="repetition-limit"),
        pytest.param(".{1000}", "too complex (program size", id="program-size"),
        pytest.param(r"\pL{1000}", "too complex", id="compile-memory"),
        pytest.param("\ud800", "not a valid RE2 regular expression", id="lone-surrogate"),
    ],
)
def test_check_regex_refuses(pattern: str, message: str) -> None:
    with pytest.raises(RegexError) as caught:
        check_regex(pattern)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_too_complex_message_names_size_and_limit() -> None:
    with pytest.raises(RegexError) as caught:
        check_regex("[a-z]{1000}")
    assert str(caught.value) == (
        f"regular expression is too complex (program size 6004, limit {MAX_PROGRAM_SIZE})"
    )


def test_regex_options_are_case_insensitive_and_quiet() -> None:
    options = regex_options()
    assert options.case_sensitive is False
    assert options.log_errors is False
    assert re2.compile(r"abc\.com", options).fullmatch("ABC.COM") is not None


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        pytest.param(r"example\.com", "example.com", True, id="exact"),
        pytest.param(r"example\.com", "mail.example.com", False, id="no-prefix"),
        pytest.param(r"example\.com", "example.com.evil.net", False, id="no-suffix"),
        pytest.param(r"example\.com", "mail.example.com.evil.net", False, id="no-infix"),
        pytest.param(r"a@x\.com|b@y\.com", "za@x.com", False, id="alternation-anchored-start"),
        pytest.param(r"a@x\.com|b@y\.com", "b@y.comz", False, id="alternation-anchored-end"),
        pytest.param(r"a@x\.com|b@y\.com", "B@Y.COM", True, id="alternation-case"),
    ],
)
def test_regex_sets_match_whole_fields(pattern: str, text: str, matches: bool) -> None:
    regex_set, rejected = build_regex_set({pattern: ["entry"]})
    assert rejected == []
    assert regex_set is not None
    assert (regex_set.match(text) == ("entry",)) is matches


def test_bad_regex_is_skipped_not_raised() -> None:
    snapshot = build_snapshot(
        blocked_senders=[
            BlockedSenderRule("bad", "(", "EMAIL", True),
            BlockedSenderRule("huge", ".{1000}", "EMAIL", True),
            BlockedSenderRule("good", r".*@evil\.com", "EMAIL", True),
        ],
        trusted_domains=[TrustedDomainRule("td-bad", "[", True, True, True)],
    )
    reasons = {(resource, rule_id): reason for resource, rule_id, reason in snapshot.skipped}
    assert set(reasons) == {
        ("block_senders", "bad"),
        ("block_senders", "huge"),
        ("trusted_domains", "td-bad"),
    }
    assert reasons["block_senders", "bad"].startswith("not a valid RE2 regular expression")
    assert reasons["block_senders", "huge"].startswith("regular expression is too complex")
    assert snapshot.sender_regex is not None
    assert [entry.id for entry in snapshot.sender_regex.match("x@evil.com")] == ["good"]


def test_regex_set_splits_when_re2_refuses_the_whole_set() -> None:
    real = index_module._compile_set

    def limited(patterns: Any) -> Any:
        # Stands in for RE2 running out of memory on a large combined set.
        if len(patterns) > 2:
            raise re2.error("pattern too large - compile failed")
        return real(patterns)

    patterns = {f"user{i}@example\\.com": [i] for i in range(7)}
    regex_set, rejected = build_regex_set(patterns, limited)
    assert rejected == []
    assert regex_set is not None
    assert len(regex_set.sets) > 1
    for i in range(7):
        assert regex_set.match(f"user{i}@example.com") == (i,)
    assert regex_set.match("user9@example.com") == ()


def test_regex_set_rejects_a_pattern_re2_cannot_compile_alone() -> None:
    real = index_module._compile_set

    def refuses_b(patterns: Any) -> Any:
        if "b" in patterns:
            raise re2.error("pattern too large - compile failed")
        return real(patterns)

    regex_set, rejected = build_regex_set({"a": ["A"], "b": ["B"], "c": ["C"]}, refuses_b)
    assert rejected == [("B", "RE2 could not compile the pattern")]
    assert regex_set is not None
    assert regex_set.match("a") == ("A",)
    assert regex_set.match("c") == ("C",)
