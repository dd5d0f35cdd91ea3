"""Driving the dashboard's pages as a browser would: its forms, its CSRF tokens, its cookies."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from httpx import Response

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: Response | str) -> str:
    """The CSRF token a page's forms carry."""
    text = page if isinstance(page, str) else page.text
    found = _CSRF.search(text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def login(client: TestClient, token: str) -> str:
    """Log in through the login form; the session's CSRF token."""
    form = client.get("/dashboard")
    assert form.status_code == 200, form.text
    answer = client.post(
        "/dashboard/login",
        data={"token": token, "csrf_token": csrf_of(form)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    overview = client.get("/dashboard")
    assert overview.status_code == 200
    return csrf_of(overview)


def field_errors(page: Response) -> dict[str, str]:
    """The messages shown beside a form's fields, by field."""
    return {
        name: html.unescape(re.sub(r"<[^>]+>", "", message)).strip()
        for name, message in re.findall(
            r'<p class="field-error" id="error-([^"]+)">(.*?)</p>', page.text, re.S
        )
    }


def cells(page: Response) -> list[list[str]]:
    """The text of each body row's cells of a page's tables."""
    rows = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", page.text, re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
            rows.append(
                [
                    html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell))).strip()
                    for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
                ]
            )
    return rows
