"""Security headers on every response: pages, API, static files and errors.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: it neither buffers bodies nor runs the
endpoint in another task).  HTML gets a Content-Security-Policy that allows only Shequ's
own scripts, so markup that slips into a page cannot run; every other response gets a
policy that allows nothing, so a JSON, CSV or iCalendar body opened in a browser is inert.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts only from Shequ itself (no inline scripts, no eval); inline styles stay allowed
# because templates and Leaflet set ``style=``, and they cannot run code.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"
PERMISSIONS_POLICY = "camera=(), microphone=(), payment=(), usb=(), geolocation=(self)"
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Add the security headers to each HTTP response that does not set them itself.

    ``production`` adds Strict-Transport-Security (only sent where HTTPS is guaranteed).
    An exception raised before the response started is answered here with a plain 500
    carrying the headers, then re-raised so that the server still logs it.
    """

    def __init__(self, app: ASGIApp, *, production: bool = False) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        ]
        if production:
            common.append((b"strict-transport-security", HSTS.encode()))
        # Encoded once: the lists appended to HTML and to every other response.
        self.for_html = [*common, (b"content-security-policy", PAGE_POLICY.encode())]
        self.for_other = [*common, (b"content-security-policy", OTHER_POLICY.encode())]

    def headers_for(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """``headers`` with the missing security headers appended."""
        present: set[bytes] = set()
        html = False
        for name, value in headers:
            lowered = name.lower()
            present.add(lowered)
            if lowered == b"content-type":
                html = value.lower().startswith(b"text/html")
        wanted = self.for_html if html else self.for_other
        return [*headers, *((n, v) for n, v in wanted if n not in present)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": self.headers_for(list(message.get("headers",
                                                                                   [])))}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                body = b"Internal Server Error"
                await send_with_headers({
                    "type": "http.response.start", "status": 500,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
                await send_with_headers({"type": "http.response.body", "body": body})
            raise
