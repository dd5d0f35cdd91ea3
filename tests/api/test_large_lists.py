"""Lists with more matches than the few-matches path takes: both query paths agree."""

from __future__ import annotations

from mailpolicy.crud import FEW_MATCHES
from tests.conftest import Api


def _blocked(index: int, pattern_type: str) -> dict[str, object]:
    pattern = f"sender{index}.example" if pattern_type == "DOMAIN" else f"s{index}@mail.example"
    return {"pattern": pattern, "pattern_type": pattern_type, "is_regex": False}


def test_filtered_lists_page_the_same_above_and_below_the_threshold(api: Api) -> None:
    many = FEW_MATCHES + 5
    posts = [_blocked(i, "DOMAIN") for i in range(many)]
    for start in range(0, many, 1000):
        chunk = posts[start : start + 1000]
        body = {"deletes": [], "patches": [], "puts": [], "posts": chunk}
        assert api.post("block_senders", "batch", json=body).status_code == 200
    for i in range(7):
        api.create("block_senders", _blocked(i, "EMAIL"))

    for pattern_type, expected in (("DOMAIN", many), ("EMAIL", 7)):
        seen: list[str] = []
        page = 1
        while True:
            response = api.get(
                "block_senders",
                params={
                    "pattern_type": pattern_type,
                    "order": "pattern",
                    "direction": "desc",
                    "per_page": 400,
                    "page": page,
                },
            )
            body = response.json()
            assert body["result_info"]["total_count"] == expected
            if not body["result"]:
                break
            assert {r["pattern_type"] for r in body["result"]} == {pattern_type}
            seen.extend(r["pattern"] for r in body["result"])
            page += 1
        assert len(seen) == expected
        assert len(set(seen)) == expected
        assert seen == sorted(seen, reverse=True)
