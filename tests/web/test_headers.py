"""Security headers on every response: pages, API, static files, errors, redirects.

Each response of the real app is checked for the exact header values; the pages' policy
allows no inline script; Strict-Transport-Security is sent in production only; an
exception inside the app is still answered with the headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shequ.context import Context
from shequ.http.headers import SecurityHeaders
from shequ.settings import Settings

PAGE_POLICY = {
    "default-src": ["'self'"], "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"], "img-src": ["'self'", "data:", "blob:"],
    "connect-src": ["'self'"], "font-src": ["'self'"], "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"], "form-action": ["'self'"], "object-src": ["'none'"],
}
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "camera=(), microphone=(), payment=(), usb=(), geolocation=(self)",
}


def parse_policy(value: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    directives = [part.split() for part in value.split(";") if part.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.fixture(params=["test", "production"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The app over an empty migrated SQLite registry, in test and production mode."""
    from shequ.app import create_app

    settings = Settings(data_dir=tmp_path / "data", environment="test")
    ctx = Context.open(settings)
    # the same database; production's other checks (keys, secret) are not what is tested
    served = replace(ctx, settings=settings.with_(environment=request.param))
    with TestClient(create_app(served)) as test_client:
        yield test_client
    ctx.close()


@pytest.mark.parametrize("path, status, html", [
    ("/", 200, True),
    ("/services", 200, True),
    ("/plan/estate", 200, True),
    ("/docs", 200, True),
    ("/api/v1/facility-types", 200, False),
    ("/openapi.json", 200, False),
    ("/static/shequ.css", 200, False),
    ("/static/vendor/leaflet/leaflet.js", 200, False),
    ("/static/vendor/swagger-ui/swagger-ui-bundle.js", 200, False),
    ("/static/vendor/swagger-ui/LICENSE", 200, False),
    ("/api/v1/divisions/999999999999", 404, False),
    ("/no-such-page", 404, True),  # the "no such page" page
    ("/services/requests", 303, False),  # the redirect to the sign-in page
])
def test_every_response_carries_the_headers(client: TestClient, path: str, status: int,
                                            html: bool) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    for name, value in COMMON.items():
        assert response.headers[name] == value
    policy = parse_policy(response.headers["content-security-policy"])
    if html:
        assert response.headers["content-type"].startswith("text/html")
        assert policy == PAGE_POLICY
    else:
        assert policy == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}
    production = client.app.state.ctx.settings.environment == "production"  # type: ignore[attr-defined]
    assert response.headers.get("strict-transport-security") == (
        "max-age=31536000; includeSubDomains" if production else None)


def test_pages_have_no_inline_script_or_handler(client: TestClient) -> None:
    """What the policy would block is not in the pages: every script has a src or is data."""
    import re

    for path in ("/", "/services", "/plan", "/plan/estate", "/docs", "/login"):
        body = client.get(path).text
        for tag in re.findall(r"<script\b[^>]*>", body):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert re.search(r"\son[a-z]+\s*=", body) is None, path
        assert "javascript:" not in body, path


def test_a_handler_may_set_its_own_header_and_a_crash_still_gets_the_headers() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["path"] == "/own":
            await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                        "headers": [(b"content-type", b"text/html"),
                                    (b"x-frame-options", b"SAMEORIGIN")]})
            await send({"type": "http.response.body", "body": b"<p>own</p>"})  # type: ignore[operator]
            return
        raise RuntimeError("boom")

    wrapped = FastAPI()
    wrapped.mount("/", SecurityHeaders(app))  # type: ignore[arg-type]
    with TestClient(wrapped, raise_server_exceptions=False) as test_client:
        own = test_client.get("/own")
        assert own.headers["x-frame-options"] == "SAMEORIGIN"  # kept, not doubled
        assert own.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert parse_policy(own.headers["content-security-policy"]) == PAGE_POLICY
        crashed = test_client.get("/crash")
        assert crashed.status_code == 500 and crashed.text == "Internal Server Error"
        assert crashed.headers["x-content-type-options"] == "nosniff"
        assert parse_policy(crashed.headers["content-security-policy"]) == {
            "default-src": ["'none'"], "frame-ancestors": ["'none'"]}
