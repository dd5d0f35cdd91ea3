"""Long fuzzing run: tests/fuzz with many more cases, its findings written to docs/benchmarks.md.

Run: .venv/bin/python bench/fuzz.py [--quick] [--examples N] [--scenarios N] [--steps N]
     [--seed N] [--no-write]

Runs the fuzz suite of `make test` (schemathesis against /client/v4/openapi.json, every
check on, every operation, then stateful scenarios per resource along the document's links)
with the budget given here instead of the suite's small one: by default 300 generated cases
per operation beyond the examples and coverage phases, and 150 scenarios of up to 20 calls per
resource. The same seed gives the same cases. Writes, under "## Fuzzing" in
docs/benchmarks.md, how many requests were sent, what the service answered, and every
failure schemathesis reported (none, when the service and its document agree).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

# Run as `python bench/<name>.py`: this folder is on sys.path.
from report import cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Fuzzing"
DEFAULT_SEED = 20261130  # the suite's own (tests/support/fuzz.py), so a failure here replays there


def run_suite(budget: dict[str, int], folder: Path) -> tuple[dict[str, object], list[str], float]:
    """Run tests/fuzz with `budget`; the tally it wrote, its failures, and the time it took."""
    report, junit = folder / "tally.json", folder / "junit.xml"
    env = {
        **os.environ,
        **{f"MAILPOLICY_FUZZ_{name.upper()}": str(value) for name, value in budget.items()},
        "MAILPOLICY_FUZZ_REPORT": str(report),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "tests/fuzz",
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, check=False)
    elapsed = time.monotonic() - started
    if done.returncode not in (0, 1) or not report.exists():
        raise SystemExit(f"the fuzz suite did not run (exit status {done.returncode})")
    return json.loads(report.read_text()), failures(junit), elapsed


def failures(junit: Path) -> list[str]:
    """One line per failed test: its name and the failures schemathesis listed for it."""
    found = []
    # The report pytest just wrote for this run, not outside input.
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        for failure in case.iter("failure"):
            text = failure.get("message", "") + "\n" + (failure.text or "")
            kinds = sorted({line.strip()[2:] for line in text.splitlines() if "- ST" in line})
            found.append(f"`{case.get('name')}`: {'; '.join(kinds) or text.splitlines()[0]}")
    return found


def summarise(tallies: dict[str, dict[str, dict[str, int]]]) -> dict[str, Counter[str]]:
    return {
        phase: sum((Counter(counts) for counts in answers.values()), Counter())
        for phase, answers in tallies.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the suite's own budget")
    parser.add_argument("--examples", type=int, help="generated cases per operation")
    parser.add_argument("--scenarios", type=int, help="stateful scenarios per resource")
    parser.add_argument("--steps", type=int, help="calls per scenario, at most")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    budget = {
        "seed": args.seed,
        "examples": args.examples or (10 if args.quick else 300),
        "scenarios": args.scenarios or (25 if args.quick else 150),
        "steps": args.steps or (10 if args.quick else 20),
    }
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as directory:
        result, failed, elapsed = run_suite(budget, Path(directory))
    answers: dict[str, dict[str, dict[str, int]]] = result["answers"]  # type: ignore[assignment]
    totals = summarise(answers)
    operations = len(answers["operations"])
    sent = {phase: sum(counts.values()) for phase, counts in totals.items()}
    print(f"{sum(sent.values()):,} requests in {elapsed:.0f} s; {len(failed)} failures", flush=True)
    for line in failed:
        print("  " + line)

    def statuses(phase: str) -> str:
        return ", ".join(f"{code}: {n:,}" for code, n in sorted(totals[phase].items()))

    flags = " --quick" if args.quick else ""
    flags += "".join(
        f" --{name} {value}" for name, value in budget.items() if not args.quick or name == "seed"
    )
    lines = [
        SECTION,
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/fuzz.py{flags}` on"
        f" {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}"
        f" (load average {load:.1f} when the run started); {elapsed:.0f} s in all.",
        "",
        "The fuzz suite of `make test` (tests/fuzz: schemathesis against the served"
        " /client/v4/openapi.json, every check but positive_data_acceptance, through the whole"
        " ASGI application with a real Write token and a migrated SQLite database) with a larger"
        f" budget: {budget['examples']} generated cases per operation beyond the examples and"
        f" coverage phases, then {budget['scenarios']} stateful scenarios of up to"
        f" {budget['steps']} calls for each of the 8 resources, following the document's links."
        " `make test` runs the same suite with 10 cases per operation and 25 scenarios of up"
        " to 10 calls; a failure either finds replays with the same seed and budget"
        " (`MAILPOLICY_FUZZ_SEED`, `_EXAMPLES`, `_SCENARIOS`, `_STEPS`).",
        "",
        "| Phase | Requests | Answers by status |",
        "| --- | ---: | --- |",
        f"| Per operation ({operations} operations) | {sent['operations']:,} |"
        f" {statuses('operations')} |",
        f"| Stateful, along the links | {sent['stateful']:,} | {statuses('stateful')} |",
        "",
        "Failures: "
        + ("none: no 5xx, and every answer is one the document declares." if not failed else ""),
        *(f"- {line}" for line in failed),
    ]
    if not args.no_write:
        write_section(SECTION, "\n".join(lines))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
