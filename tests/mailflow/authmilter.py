"""A stand-in for the authentication milter an operator runs before mailpolicy (OpenDKIM,
OpenDMARC, rspamd): it prepends an Authentication-Results header with the trusted authserv-id,
passing SPF and DMARC for the envelope sender's domain when that domain is in PASS_DOMAINS
and failing them otherwise, as such a milter would after looking at DNS.

Run: python authmilter.py PORT AUTHSERV_ID PASS_DOMAIN[,PASS_DOMAIN...]
"""

from __future__ import annotations

import sys
from typing import Any

import Milter


class Authenticator(Milter.Base):  # type: ignore[misc]
    authserv_id = ""
    passing: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.sender = ""

    def envfrom(self, sender: str, *_parameters: Any) -> int:
        self.sender = sender.strip("<>").lower()
        return int(Milter.CONTINUE)

    def eom(self) -> int:
        domain = self.sender.rpartition("@")[2]
        verdict = "pass" if domain in self.passing else "fail"
        value = (
            f"{self.authserv_id}; spf={verdict} smtp.mailfrom={self.sender or 'postmaster'}; "
            f"dmarc={verdict} header.from={domain or 'unknown'}"
        )
        self.addheader("Authentication-Results", value, 0)  # prepended, as RFC 8601 asks
        return int(Milter.ACCEPT)


def main() -> None:
    port, authserv_id, passing = sys.argv[1], sys.argv[2], sys.argv[3]
    Authenticator.authserv_id = authserv_id
    Authenticator.passing = frozenset(d.strip().lower() for d in passing.split(",") if d.strip())
    Milter.factory = Authenticator
    Milter.set_flags(Milter.ADDHDRS)
    Milter.runmilter("authenticator", f"inet:{port}@127.0.0.1", 60)


if __name__ == "__main__":
    main()
