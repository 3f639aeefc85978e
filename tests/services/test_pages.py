"""Services pages without a browser: sign-in redirects, the queue's assign form, errors
shown on the page, both languages."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from .conftest import PASSWORD, Seeded


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_pages_need_sign_in_and_speak_both_languages(client: TestClient) -> None:
    response = client.get("/services/requests/new", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/services/requests/new"
    assert "附近的服务" in client.get("/services").text
    assert "Services near me" in client.get("/services?lang=en").text


def test_worker_assigns_from_the_queue_and_sees_refusals(
        client: TestClient, seeded: Seeded, auth: Callable[[str], dict[str, str]]) -> None:
    created = client.post("/api/v1/service-requests", headers=auth("resident1"), json={
        "service_code": "public_repair", "division_code": "110101001001",
        "attributes": {"fixture": "path"}}).json()
    _login(client, "officer_dhm")
    queue = client.get("/services/queue")
    assert f'data-testid="queue-row-{created["id"]}"' in queue.text
    assert "worker_dfx" in queue.text and "worker_yz" not in queue.text.split(
        f'queue-row-{created["id"]}')[1].split("</tr>")[0]
    refused = client.post(f"/services/requests/{created['id']}/act", data={
        "action": "resolve", "csrf_token": _csrf(queue.text), "back": "queue"})
    assert "cannot be &#39;resolve&#39;" in refused.text or "cannot be 'resolve'" in refused.text
    assigned = client.post(f"/services/requests/{created['id']}/act", data={
        "action": "assign", "assignee_id": str(seeded.users["worker_dfx"]),
        "csrf_token": _csrf(queue.text)}, follow_redirects=False)
    assert assigned.status_code == 303
    detail = client.get(f"/api/v1/service-requests/{created['id']}",
                        headers=auth("worker_dfx")).json()
    assert (detail["status"], detail["assigned_to_id"]) == ("assigned",
                                                            seeded.users["worker_dfx"])
