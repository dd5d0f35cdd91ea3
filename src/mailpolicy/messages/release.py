"""Releasing quarantined mail through Postfix's own queue, and what a release changes in a record.

A quarantined message sits in Postfix's hold queue, whole, with every recipient it had when it
was held. Releasing it is `postsuper -H QUEUE_ID` (back to the deferred queue) then
`postqueue -i QUEUE_ID` (deliver now rather than at the next queue scan). Postfix does not run
milters again on a released message, so it is not held a second time. A queue file is
released as a whole: every recipient still on it gets the message (docs/investigate.md).

`postsuper` needs root. An API that does not run as root is given a command prefix
(MAILPOLICY_POSTFIX_COMMAND_PREFIX, e.g. `sudo -n`) and a sudoers rule allowing exactly these
two commands; the queue id is checked against Postfix's alphabet before any command runs.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from dataclasses import dataclass

log = logging.getLogger("mailpolicy.messages")

QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,20}")
TIMEOUT = 30
_RELEASED = re.compile(r"Released from hold: (\d+) message")


class ReleaseFailed(Exception):
    """Postfix did not release the message; the text says why, for a person."""


@dataclass(frozen=True, slots=True)
class PostfixQueue:
    """The Postfix instance whose hold queue mailpolicy releases from."""

    config_dir: str | None = None
    command_prefix: str = ""

    def _command(self, program: str, *arguments: str) -> list[str]:
        command = [*shlex.split(self.command_prefix), program]
        if self.config_dir:
            command += ["-c", self.config_dir]
        return [*command, *arguments]

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            # A fixed program, a checked queue id: nothing of the request reaches a shell.
            return subprocess.run(  # noqa: S603
                command, capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except FileNotFoundError:
            raise ReleaseFailed(
                f"{command[0]} is not installed here: release runs on the Postfix host"
            ) from None
        except subprocess.TimeoutExpired:
            raise ReleaseFailed(f"{command[0]} did not answer within {TIMEOUT} s") from None

    def release(self, queue_id: str) -> None:
        """Release one held message and schedule its delivery now."""
        if not QUEUE_ID.fullmatch(queue_id):
            raise ReleaseFailed(f"{queue_id!r} is not a Postfix queue id")
        done = self._run(self._command("postsuper", "-H", queue_id))
        released = _RELEASED.search(done.stderr)
        if done.returncode != 0 or released is None or released.group(1) == "0":
            detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
            if released is not None and released.group(1) == "0":
                detail = "it is no longer in the hold queue (delivered, deleted or expired)"
            raise ReleaseFailed(f"Postfix did not release {queue_id}: {detail}")
        flushed = self._run(self._command("postqueue", "-i", queue_id))
        if flushed.returncode != 0:
            # Released all the same: the next deferred-queue scan delivers it.
            log.warning(
                "%s released, but postqueue -i failed (%s); it goes out at the next queue scan",
                queue_id,
                " ".join(flushed.stderr.split()),
            )
