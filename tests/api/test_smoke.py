from __future__ import annotations

from tests.conftest import Api


def test_create_and_get_allow_policy(api: Api) -> None:
    created = api.create(
        "allow_policies",
        {
            "is_acceptable_sender": False,
            "is_exempt_recipient": False,
            "is_regex": False,
            "is_trusted_sender": True,
            "pattern": "test@example.com",
            "pattern_type": "EMAIL",
            "verify_sender": True,
        },
    )
    fetched = api.get("allow_policies", created["id"]).json()["result"]
    assert fetched == created
