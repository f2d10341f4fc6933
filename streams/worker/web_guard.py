"""Who may ask the worker's web port: a Host allowlist, and an optional token for the pages
that show accounts.

The Host check stops DNS rebinding: a page on another site, whose name its owner points
at 127.0.0.1, would otherwise read the dashboard's data through the visitor's browser,
even from a worker bound to loopback only. The token guards what names accounts and
people (`/dashboard`, `/accounts/...`); probes and Prometheus (`/health`, `/ready`,
`/metrics`) stay open, as they name no one. A browser brings the token once as
`/dashboard?token=...`, which sets an HttpOnly cookie and drops the token from the URL.
"""

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["PROTECTED", "TOKEN_COOKIE", "allowed_hosts", "guard"]

PROTECTED = ("/dashboard", "/accounts/")
TOKEN_COOKIE = "abm_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def allowed_hosts(configured: list[str] | None, bind: str) -> frozenset[str] | None:
    """The Host names to answer (None: any). Unset, a worker bound to loopback answers its
    loopback names only; one bound wider answers any (it is reached by whatever name its
    network gives it, and a browser's rebinding attack needs a loopback-only service)."""
    if configured is not None:
        return frozenset(h.lower() for h in configured) if "*" not in configured else None
    try:
        loopback = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        loopback = bind == "localhost"
    return LOOPBACK_NAMES if loopback else None


def _host_name(request: web.Request) -> str:
    """The Host header without its port ([::1]:6066 -> ::1)."""
    host = (request.host or "").lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def guard(
    hosts: frozenset[str] | None, token: str | None
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The aiohttp middleware: 421 for a Host not allowed, 401 for a protected page asked
    without the token."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if hosts is not None and _host_name(request) not in hosts:
            return web.json_response({"error": "unknown Host"}, status=421)
        if token is None or not request.path.startswith(PROTECTED):
            return await handler(request)
        given = request.query.get("token")
        if given is not None and request.path == "/dashboard":
            if not hmac.compare_digest(given.encode(), token.encode()):
                return web.json_response({"error": "wrong token"}, status=401)
            moved = web.HTTPSeeOther("/dashboard")  # the token leaves the URL and history
            moved.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
            raise moved
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        shown = bearer or request.cookies.get(TOKEN_COOKIE, "")
        if not hmac.compare_digest(shown.encode(), token.encode()):
            return web.json_response({"error": "a token is required"}, status=401)
        return await handler(request)

    return middleware
