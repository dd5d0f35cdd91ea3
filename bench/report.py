"""What every benchmark shares: the machine it ran on, and its section of docs/benchmarks.md."""

from __future__ import annotations

import platform
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_section(section: str, text: str) -> None:
    """Replace one `## ` section of docs/benchmarks.md with `text`, keeping every other one."""
    existing = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    lines = existing.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == section), None)
    if start is None:
        body = existing.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        before = "\n".join(lines[:start]).rstrip("\n")
        after = "\n".join(lines[end:])
        body = (before + "\n\n" if before else "") + text + ("\n" + after if after else "")
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(body.rstrip("\n") + "\n", encoding="utf-8")


def publish(section: str, lines: list[str], write: bool) -> None:
    """Print a benchmark's section and, when `write`, put it in docs/benchmarks.md."""
    text = "\n".join(lines)
    print(text)
    if write:
        write_section(section, text)
        print(f"written to {DOCS}")
