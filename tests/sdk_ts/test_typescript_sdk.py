"""The official TypeScript SDK (npm `cloudflare`, pinned in package.json) against a live server.

Each `*.test.mjs` file beside this module is one pytest test: the app runs on 127.0.0.1 with its
own migrated database, accounts with real tokens and keys are created, and the file runs under
Node's built-in test runner with the base URL and the credentials in environment variables. Node's
own report is the failure message. `make test` installs the Node packages (`npm ci` here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.support.api import LiveServer, make_tenant

HERE = Path(__file__).resolve().parent
NODE_FILES = sorted(path.name for path in HERE.glob("*.test.mjs"))
RESOURCE_FILES = {
    "allow-policies.test.mjs",
    "block-senders.test.mjs",
    "content-policies.test.mjs",
    "domains.test.mjs",
    "impersonation-registry.test.mjs",
    "sending-domain-restrictions.test.mjs",
    "trusted-domains.test.mjs",
    "url-ignore-patterns.test.mjs",
}
SDK_VERSION = "7.3.0"
# Every Node test takes accounts of its own (lib/env.mjs); this covers the busiest file.
ACCOUNTS_PER_FILE = 16
NODE_TIMEOUT = 90  # seconds for one file, which takes about one
TOTAL_LINE = re.compile(r"^(?:\S+ )?tests \d+\s*$")
# The marks that start a line of the tree: suite, pass, fail, note, skip.
TREE_MARKS = ("\u25b6", "\u2714", "\u2716", "\u2139", "\ufe63")
FRAME_NOISE = re.compile(r"^\s+at .*(?:/node_modules/|\(node:|node:internal/)")
SUMMARY = re.compile(r"^(?:\S+ )?(tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$", re.MULTILINE)


@pytest.fixture(scope="session")
def node() -> str:
    """Node 20 or later, and the SDK as package-lock.json pins it."""
    binary = shutil.which("node")
    if binary is None:
        pytest.fail("node is not on PATH: `make test` installs it", pytrace=False)
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    major = int(version.lstrip("v").split(".")[0])
    assert major >= 20, f"Node {version}: cloudflare {SDK_VERSION} needs Node.js 20 or later"
    installed = HERE / "node_modules" / "cloudflare" / "package.json"
    if not installed.exists():
        pytest.fail(
            f"{installed.parent} is missing: run `npm ci` in {HERE} (`make test` does)",
            pytrace=False,
        )
    found = json.loads(installed.read_text())["version"]
    assert found == SDK_VERSION, f"cloudflare {found} is installed; run `npm ci` in {HERE}"
    return binary


def node_environment(live_server: LiveServer, app: FastAPI) -> dict[str, str]:
    accounts = []
    for index in range(ACCOUNTS_PER_FILE):
        tenant = make_tenant(app.state.db, f"ts{index}")
        accounts.append(
            {
                "id": tenant.id,
                "writeToken": tenant.write_token,
                "readToken": tenant.read_token,
                "keyEmail": tenant.key_email,
                "writeKey": tenant.write_key,
            }
        )
    # The SDK reads CLOUDFLARE_* variables; a developer's real credentials must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "NODE_"))}
    env.update(
        MAILPOLICY_BASE_URL=live_server.base_url,
        MAILPOLICY_ACCOUNTS=json.dumps(accounts),
        NO_COLOR="1",
    )
    return env


def summary(output: str) -> dict[str, int]:
    """The counts at the end of Node's spec report (the last of each, should a test print one)."""
    return {name: int(count) for name, count in SUMMARY.findall(output)}


def readable(stdout: str, stderr: str) -> str:
    """Node's report, shortened: the tree of test names, then the counts and each failure in
    full, without the stack frames inside the SDK and Node itself."""
    lines = stdout.splitlines()
    end = next((i for i, line in enumerate(lines) if TOTAL_LINE.match(line)), None)
    if end is None:  # no summary: Node stopped before its report was done
        return f"{stdout}\n{stderr}".strip()
    tree = [line for line in lines[:end] if line.lstrip()[:1] in TREE_MARKS]
    rest = [line for line in lines[end:] if not FRAME_NOISE.match(line)]
    return "\n".join([*tree, *rest, stderr.strip()]).strip()


def test_every_resource_has_a_node_file() -> None:
    assert {*RESOURCE_FILES, "auth.test.mjs", "errors.test.mjs"} <= set(NODE_FILES), NODE_FILES


@pytest.mark.parametrize("node_file", NODE_FILES)
def test_typescript_sdk(node: str, live_server: LiveServer, app: FastAPI, node_file: str) -> None:
    env = node_environment(live_server, app)
    try:
        done = subprocess.run(
            [node, "--test-reporter=spec", str(HERE / node_file)],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=NODE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        partial = expired.stdout or ""
        text = partial.decode() if isinstance(partial, bytes) else partial
        pytest.fail(f"{node_file} did not finish in {NODE_TIMEOUT} s:\n\n{text}", pytrace=False)
    report = readable(done.stdout, done.stderr)
    counts = summary(done.stdout)
    if done.returncode != 0 or counts.get("fail", 1) or counts.get("cancelled", 1):
        pytest.fail(f"{node_file}: Node exited {done.returncode}\n\n{report}", pytrace=False)
    assert counts.get("tests", 0) > 0, report
    assert counts["pass"] == counts["tests"], report
    assert counts.get("skipped") == 0, report
    assert counts.get("todo") == 0, report
