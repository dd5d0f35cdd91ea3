"""Policy engine benchmark: evaluations per second, latency, snapshot build time and memory.

Run: .venv/bin/python bench/engine.py [--quick] [--messages N] [--entries N] [--no-write]

Generates a settings set of mixed entries (exact addresses, domains, IPv4/IPv6 addresses and
CIDR blocks, regular expressions) and a stream of messages, some of which hit entries.
Measures the indexed engine on one core, the linear-scan reference evaluator on a sample,
and writes the results under "## Policy engine" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailpolicy.engine import (
    AllowPolicyRule,
    AuthResults,
    BlockedSenderRule,
    DKIMResult,
    Finding,
    ImpersonationRule,
    Message,
    ProtectedDomainRule,
    SendingDomainRestrictionRule,
    Snapshot,
    TLSInfo,
    TrustedDomainRule,
    build_snapshot,
    evaluate,
)

# Run as `python bench/<name>.py`: this folder is on sys.path.
from report import cpu_model, publish

ROOT = Path(__file__).resolve().parent.parent
# The linear-scan floor is the tests' reference evaluator.
sys.path.insert(0, str(ROOT))
from tests.support.reference import build_naive, evaluate_naive  # noqa: E402

SECTION = "## Policy engine"

TLDS = ("com", "net", "org", "io", "de", "co.uk", "fr", "nl")
WORDS = [
    "acme",
    "alpha",
    "beta",
    "bank",
    "cloud",
    "data",
    "delta",
    "echo",
    "fast",
    "global",
    "green",
    "hub",
    "info",
    "king",
    "labs",
    "lima",
    "mail",
    "media",
    "metro",
    "micro",
    "net",
    "nova",
    "omega",
    "open",
    "peak",
    "post",
    "prime",
    "quick",
    "red",
    "safe",
    "shop",
    "smart",
    "solar",
    "star",
    "sun",
    "tech",
    "trade",
    "trust",
    "union",
    "vista",
    "web",
    "wind",
    "zen",
]
NAMES = (
    "Jane Doe",
    "John Smith",
    "Maria Garcia",
    "Wei Zhang",
    "Aisha Khan",
    "Lars Berg",
    "Olu Adeyemi",
    "Priya Patel",
)
OUTSIDE = "elsewhere.org"
DISPOSITIONS = ("MALICIOUS", "MALICIOUS-BEC", "SUSPICIOUS", "SPAM", "SPOOF", "BULK")


@dataclass(frozen=True, slots=True)
class Settings:
    allow_policies: list[AllowPolicyRule]
    blocked_senders: list[BlockedSenderRule]
    trusted_domains: list[TrustedDomainRule]
    impersonation: list[ImpersonationRule]
    domains: list[ProtectedDomainRule]
    restrictions: list[SendingDomainRestrictionRule]
    # Values the message generator draws from so that a share of messages hit entries.
    sender_emails: list[str]
    sender_domains: list[str]
    ipv4: list[str]
    ipv6: list[str]

    def count(self) -> int:
        return (
            len(self.allow_policies)
            + len(self.blocked_senders)
            + len(self.trusted_domains)
            + len(self.impersonation)
            + len(self.domains)
            + len(self.restrictions)
        )

    def kwargs(self) -> dict[str, Any]:
        return {
            "allow_policies": list(self.allow_policies),
            "blocked_senders": list(self.blocked_senders),
            "trusted_domains": list(self.trusted_domains),
            "impersonation": list(self.impersonation),
            "domains": list(self.domains),
            "restrictions": list(self.restrictions),
        }


def _domain(rnd: random.Random, serial: int) -> str:
    return f"{rnd.choice(WORDS)}{serial}.{rnd.choice(TLDS)}"


def _ipv4(rnd: random.Random) -> str:
    return f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"


def _sender_pattern(rnd: random.Random, serial: int, regex: bool) -> tuple[str, str, str]:
    """(pattern, pattern_type, value a message can carry to hit it)."""
    if regex:
        word = rnd.choice(WORDS)
        shape = rnd.randrange(4)
        if shape == 0:
            return rf".*@{word}{serial}\.(com|net)", "DOMAIN", f"x@{word}{serial}.com"
        if shape == 1:
            return rf"{word}[0-9]+\.{serial}@.*", "EMAIL", f"{word}7.{serial}@example.org"
        if shape == 2:
            return (
                rf"(mail|smtp)[0-9]*\.{word}{serial}\.net",
                "DOMAIN",
                f"mail1.{word}{serial}.net",
            )
        a, b = serial % 256, (serial // 256) % 256
        return rf"172\.{a}\.{b}\.[0-9]+", "IP", f"172.{a}.{b}.9"
    kind = rnd.random()
    if kind < 0.4:
        address = f"{rnd.choice(WORDS)}.{serial}@{_domain(rnd, serial)}"
        return address, "EMAIL", address
    if kind < 0.75:
        domain = _domain(rnd, serial)
        return domain, "DOMAIN", f"user@mail.{domain}"
    if kind < 0.85:
        ip = _ipv4(rnd)
        return ip, "IP", ip
    if kind < 0.93:
        prefix = rnd.choice((16, 20, 22, 24, 24, 26, 28, 30))
        ip = _ipv4(rnd)
        return f"{ip}/{prefix}", "IP", ip
    groups = [f"{rnd.randrange(0x10000):x}" for _ in range(8)]
    ip6 = ":".join(groups)
    if kind < 0.96:
        return ip6, "IP", ip6
    prefix = rnd.choice((32, 48, 56, 64))
    return f"{ip6}/{prefix}", "IP", ip6


def generate_settings(total: int, regexes: int, seed: int = 1) -> Settings:
    """``total`` entries across all lists, ``regexes`` of them regular expressions."""
    rnd = random.Random(seed)
    n_allow = total * 20 // 100
    n_block = total * 60 // 100
    n_trusted = total * 10 // 100
    n_imp = total * 5 // 100
    n_domains = total * 4 // 100
    n_restrict = total - n_allow - n_block - n_trusted - n_imp - n_domains
    allow_regex, block_regex = regexes * 3 // 10, regexes * 6 // 10
    trusted_regex = regexes - allow_regex - block_regex
    settings = Settings([], [], [], [], [], [], [], [], [], [])
    serial = 0

    def record(value: str, pattern_type: str) -> None:
        if pattern_type == "IP":
            (settings.ipv6 if ":" in value else settings.ipv4).append(value)
        elif pattern_type == "EMAIL":
            settings.sender_emails.append(value)
        else:
            settings.sender_domains.append(value.rpartition("@")[2])

    for i in range(n_allow):
        serial += 1
        pattern, pattern_type, value = _sender_pattern(rnd, serial, i < allow_regex)
        record(value, pattern_type)
        flag = rnd.random()
        settings.allow_policies.append(
            AllowPolicyRule(
                id=f"allow-{serial}",
                pattern=pattern,
                pattern_type=pattern_type,
                is_regex=i < allow_regex,
                is_trusted_sender=flag < 0.35,
                is_acceptable_sender=0.35 <= flag < 0.8,
                is_exempt_recipient=flag >= 0.8,
                verify_sender=rnd.random() < 0.5,
            )
        )
    for i in range(n_block):
        serial += 1
        pattern, pattern_type, value = _sender_pattern(rnd, serial, i < block_regex)
        record(value, pattern_type)
        settings.blocked_senders.append(
            BlockedSenderRule(f"block-{serial}", pattern, pattern_type, i < block_regex)
        )
    for i in range(n_trusted):
        serial += 1
        domain = _domain(rnd, serial)
        is_regex = i < trusted_regex
        escaped = domain.replace(".", "\\.")
        pattern = rf"([a-z]+\.)?{escaped}" if is_regex else domain
        settings.trusted_domains.append(
            TrustedDomainRule(
                f"trusted-{serial}", pattern, is_regex, rnd.random() < 0.7, rnd.random() < 0.7
            )
        )
        settings.sender_domains.append(domain)
    for _ in range(n_imp):
        serial += 1
        name = f"{rnd.choice(NAMES)} {serial}"
        settings.impersonation.append(
            ImpersonationRule(f"imp-{serial}", name, f"exec{serial}@corp{serial % 97}.com", False)
        )
    for _ in range(n_domains):
        serial += 1
        drop = tuple(d for d in DISPOSITIONS if rnd.random() < 0.4)
        status = "ACTIVE" if rnd.random() < 0.9 else "PENDING"
        settings.domains.append(
            ProtectedDomainRule(f"domain-{serial}", f"corp{serial}.com", status, drop)
        )
    for _ in range(n_restrict):
        serial += 1
        domain = _domain(rnd, serial)
        exclude = (f"legacy.{domain}",) if rnd.random() < 0.3 else ()
        settings.restrictions.append(
            SendingDomainRestrictionRule(f"restrict-{serial}", domain, exclude)
        )
        settings.sender_domains.append(domain)
    return settings


def generate_messages(
    settings: Settings, count: int, seed: int = 2, *, clean: bool = False
) -> Iterator[Message]:
    """Mixed traffic: some messages carry a sender, IP or display name from the settings and
    30 % have a scanner finding. ``clean`` traffic never does: no entry matches it."""
    rnd = random.Random(seed)
    listed = 0.0 if clean else 1.0
    protected = [d.domain for d in settings.domains]
    imp_names = [i.name for i in settings.impersonation]
    auth_choices = (
        AuthResults(),
        AuthResults(spf="pass", dmarc="pass"),
        AuthResults(spf="fail", dkim=(DKIMResult("x.com", "pass"),)),
        AuthResults(spf="softfail"),
    )
    tls = TLSInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    listed_ips = settings.ipv4 + settings.ipv6 or ["192.0.2.1"]
    for serial in range(count):
        roll = rnd.random()
        if roll < 0.05 * listed:
            sender = rnd.choice(settings.sender_emails)
        elif roll < 0.15 * listed:
            sender = f"user{serial % 50}@{rnd.choice(settings.sender_domains)}"
        else:
            sender = f"{rnd.choice(WORDS)}{serial % 1000}@{rnd.choice(WORDS)}{serial % 7919}.com"
        roll = rnd.random()
        if roll < 0.05 * listed:
            ip = rnd.choice(listed_ips)
        elif roll < 0.15:
            ip = ":".join(f"{rnd.randrange(0x10000):x}" for _ in range(8))
        else:
            ip = _ipv4(rnd)
        name_roll = rnd.random()
        if name_roll < 0.03 * listed and imp_names:
            header = f'"{rnd.choice(imp_names)}" <{sender}>'
        elif name_roll < 0.6:
            header = f'"{rnd.choice(NAMES)}" <{sender}>'
        else:
            header = sender
        recipients = tuple(
            f"{rnd.choice(WORDS)}@{rnd.choice(protected) if rnd.random() < 0.9 else OUTSIDE}"
            for _ in range(1 if rnd.random() < 0.7 else rnd.randrange(2, 5))
        )
        findings: tuple[Finding, ...] = ()
        if rnd.random() < 0.3 * listed:
            findings = (
                Finding(
                    rnd.choice(("content", "recent_domain", "lookalike_domain")),
                    rnd.choice(DISPOSITIONS),
                    rnd.choice(settings.sender_domains) if rnd.random() < 0.5 else None,
                ),
            )
        yield Message(
            envelope_from=sender if rnd.random() < 0.97 else "",
            header_from=header,
            recipients=recipients,
            client_ip=ip,
            reply_to=sender if rnd.random() < 0.1 else None,
            client_hostname=f"mx{serial % 10}.{rnd.choice(WORDS)}.net",
            tls=tls if rnd.random() < 0.85 else None,
            auth=rnd.choice(auth_choices),
            findings=findings,
        )


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class BuildResult:
    entries: int
    seconds: float
    python_bytes: int
    rss_bytes: int
    skipped: int


def measure_build(settings: Settings) -> tuple[BuildResult, Snapshot]:
    kwargs = settings.kwargs()
    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    snapshot = build_snapshot(**kwargs)
    seconds = time.perf_counter() - started
    rss = _rss_bytes() - rss_before
    # A second build under tracemalloc: it slows the build, so it is not the one timed.
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    traced = build_snapshot(**kwargs)
    python_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del traced
    stats = BuildResult(settings.count(), seconds, python_bytes, rss, len(snapshot.skipped))
    return stats, snapshot


@dataclass(frozen=True, slots=True)
class Throughput:
    cpu_rate: float  # evaluations per second of CPU time used by this process
    wall_rate: float  # evaluations per second of elapsed time
    recipients: float  # recipients per message


def measure_throughput(
    snapshot: Snapshot, settings: Settings, count: int, *, clean: bool = False
) -> Throughput:
    """Evaluate ``count`` messages, generated in batches outside the timed loop.

    CPU time is reported besides elapsed time because the machine may be shared: CPU time
    is what one core spends, elapsed time also counts waiting for the core.
    """
    chunk = 50_000
    cpu = wall = 0.0
    done = 0
    recipients = 0
    stream = generate_messages(settings, count, clean=clean)
    while done < count:
        batch = [message for _, message in zip(range(min(chunk, count - done)), stream)]  # noqa: B905
        recipients += sum(len(m.recipients) for m in batch)
        gc.collect()
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for message in batch:
            evaluate(message, snapshot)
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
        done += len(batch)
    return Throughput(done / cpu, done / wall, recipients / done)


def matched_share(snapshot: Snapshot, settings: Settings, count: int) -> float:
    """Share of mixed-traffic messages for which some entry other than a domain matched."""
    matched = 0
    for message in generate_messages(settings, count):
        verdict = evaluate(message, snapshot)
        if any(
            reason.resource != "domains"
            for recipient in verdict.recipients
            for reason in recipient.reasons
        ):
            matched += 1
    return matched / count


def measure_latency(snapshot: Snapshot, settings: Settings, count: int) -> tuple[float, float]:
    """p50 and p99 latency in microseconds, timing each evaluation separately."""
    messages = list(generate_messages(settings, count, seed=3))
    timings = []
    clock = time.perf_counter_ns
    for message in messages:
        started = clock()
        evaluate(message, snapshot)
        timings.append(clock() - started)
    cuts = statistics.quantiles(timings, n=100)
    return cuts[49] / 1000, cuts[98] / 1000


def measure_naive(settings: Settings, count: int) -> float:
    naive = build_naive(**settings.kwargs())
    messages = list(generate_messages(settings, count, seed=4))
    started = time.perf_counter()
    for message in messages:
        evaluate_naive(message, naive)
    return count / (time.perf_counter() - started)


def _engine_build() -> str:
    # The installed engine is compiled by mypyc unless MAILPOLICY_PURE_PYTHON=1 was set.
    from mailpolicy.engine import COMPILED

    if not COMPILED:
        return "interpreted Python (installed with MAILPOLICY_PURE_PYTHON=1)"
    return "compiled with mypyc, as `make` installs it"


def _mib(value: int) -> str:
    return f"{value / (1 << 20):,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--messages", type=int, help="messages for the throughput run")
    parser.add_argument("--entries", type=int, help="settings entries for the evaluation runs")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()

    entries = args.entries or (10_000 if args.quick else 100_000)
    regexes = max(10, entries // 100)
    messages = args.messages or (20_000 if args.quick else 1_000_000)
    clean_messages = min(messages, 200_000)
    latency_messages = min(messages, 100_000)
    naive_messages = 20 if args.quick else 200
    build_sizes = (entries,) if args.quick else (100_000, 1_000_000)
    load = os.getloadavg()[0]

    print(f"generating {entries:,} entries ({regexes:,} regex)...", flush=True)
    settings = generate_settings(entries, regexes)
    builds: list[BuildResult] = []
    snapshot: Snapshot | None = None
    for size in build_sizes:
        if size == entries:
            result, snapshot = measure_build(settings)
        else:
            result, _ = measure_build(generate_settings(size, max(10, size // 100)))
        print(
            f"build {size:,} entries: {result.seconds:.2f} s, python {_mib(result.python_bytes)},"
            f" rss {_mib(result.rss_bytes)}, skipped {result.skipped}",
            flush=True,
        )
        builds.append(result)
        gc.collect()
    if snapshot is None:
        snapshot = measure_build(settings)[1]

    for message in generate_messages(settings, 20_000, seed=9):
        evaluate(message, snapshot)
    share = matched_share(snapshot, settings, 20_000)
    mixed = measure_throughput(snapshot, settings, messages)
    print(f"mixed: {mixed.cpu_rate:,.0f} / {mixed.wall_rate:,.0f} evaluations/s", flush=True)
    clean = measure_throughput(snapshot, settings, clean_messages, clean=True)
    print(f"clean: {clean.cpu_rate:,.0f} / {clean.wall_rate:,.0f} evaluations/s", flush=True)
    p50, p99 = measure_latency(snapshot, settings, latency_messages)
    print(f"latency: p50 {p50:.1f} us, p99 {p99:.1f} us", flush=True)
    naive_rate = measure_naive(settings, naive_messages)
    print(f"naive: {naive_rate:,.1f} evaluations/s over {naive_messages} messages", flush=True)

    flags = " --quick" if args.quick else ""
    lines = [
        SECTION,
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/engine.py{flags}` on"
        f" {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, one core"
        f" (load average {load:.1f} when the run started).",
        "",
        f"Engine build: {_engine_build()}.",
        "",
        f"Settings: {entries:,} entries, {regexes:,} of them regular expressions, across allow"
        " policies, blocked senders, trusted domains, the impersonation registry, protected"
        " domains and sending-domain restrictions; the patterns mix exact addresses, domains,"
        " IPv4 and IPv6 addresses and CIDR blocks.",
        "",
        f"Mixed traffic: {mixed.recipients:.2f} recipients per message; some senders, client"
        f" IPs and display names come from the settings, so {share:.0%} of messages match at"
        " least one entry besides their protected domain, and 30% carry a scanner finding. Clean"
        " traffic: the same shape, but nothing in it matches an entry or has a finding.",
        "",
        "Evaluations per second are given per second of CPU time used (what one core"
        " delivers) and per second elapsed (lower when the machine is shared).",
        "",
        "| Measure | Result |",
        "| --- | --- |",
        f"| Evaluations per second, mixed traffic ({messages:,} messages) |"
        f" {mixed.cpu_rate:,.0f} CPU, {mixed.wall_rate:,.0f} elapsed |",
        f"| Evaluations per second, clean traffic ({clean_messages:,} messages) |"
        f" {clean.cpu_rate:,.0f} CPU, {clean.wall_rate:,.0f} elapsed |",
        f"| Latency p50 / p99, mixed traffic ({latency_messages:,} messages timed one by one) |"
        f" {p50:.1f} µs / {p99:.1f} µs |",
        f"| Evaluations per second, linear-scan reference ({naive_messages} messages) |"
        f" {naive_rate:,.1f} |",
        f"| Indexed engine over linear scan (elapsed) |"
        f" {mixed.wall_rate / naive_rate:,.0f} times faster |",
    ]
    for result in builds:
        lines.append(
            f"| Snapshot build, {result.entries:,} entries | {result.seconds:.2f} s;"
            f" {_mib(result.python_bytes)} Python heap (tracemalloc),"
            f" {_mib(result.rss_bytes)} RSS growth |"
        )
    lines.append("")
    publish(SECTION, lines, write=not args.no_write)


if __name__ == "__main__":
    main()
