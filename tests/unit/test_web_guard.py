"""The web port's guard on a real aiohttp server on loopback: the Host allowlist (DNS
rebinding) and the token of the pages that show accounts."""

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from streams.worker.web_guard import TOKEN_COOKIE, allowed_hosts, guard

TOKEN = "s3cret-token-of-the-dashboard"


@contextlib.asynccontextmanager
async def server(hosts: frozenset[str] | None, token: str | None) -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"path": request.path})

    app = web.Application(middlewares=[guard(hosts, token)])
    for path in ("/health", "/metrics", "/dashboard", "/dashboard/data", "/accounts/acme"):
        app.router.add_get(path, ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def status(url: str, **kw: object) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, **kw) as response:
        return response.status


async def test_a_page_asked_by_another_host_name_is_refused():
    """A rebinding attack arrives with the attacker's name in Host, at 127.0.0.1."""
    async with server(allowed_hosts(None, "127.0.0.1"), None) as base:
        assert await status(f"{base}/dashboard/data") == 200
        assert await status(f"{base}/dashboard/data", headers={"Host": "localhost:1"}) == 200
        evil = {"Host": "rebind.evil.example"}
        assert await status(f"{base}/dashboard/data", headers=evil) == 421
        assert await status(f"{base}/metrics", headers=evil) == 421


async def test_the_token_guards_the_pages_that_show_accounts_and_only_those():
    async with server(None, TOKEN) as base:
        assert await status(f"{base}/health") == 200
        assert await status(f"{base}/metrics") == 200
        for page in ("/dashboard", "/dashboard/data", "/accounts/acme"):
            assert await status(base + page) == 401
            wrong = {"Authorization": "Bearer nope"}
            assert await status(base + page, headers=wrong) == 401
            right = {"Authorization": f"Bearer {TOKEN}"}
            assert await status(base + page, headers=right) == 200
        assert await status(f"{base}/dashboard?token=nope") == 401


async def test_a_browser_brings_the_token_once_and_keeps_it_in_a_cookie():
    jar = aiohttp.CookieJar(unsafe=True)  # as a browser, it keeps cookies of an IP address
    async with server(None, TOKEN) as base, aiohttp.ClientSession(cookie_jar=jar) as browser:
        async with browser.get(f"{base}/dashboard?token={TOKEN}") as page:
            assert page.status == 200
            assert str(page.url) == f"{base}/dashboard"  # the token left the URL
        assert TOKEN_COOKIE in {c.key for c in browser.cookie_jar}
        async with browser.get(f"{base}/dashboard/data") as data:
            assert data.status == 200


@pytest.mark.parametrize(
    ("configured", "bind", "expected"),
    [
        (None, "127.0.0.1", {"localhost", "127.0.0.1", "::1"}),
        (None, "::1", {"localhost", "127.0.0.1", "::1"}),
        (None, "0.0.0.0", None),
        (["abm.example.com"], "0.0.0.0", {"abm.example.com"}),
        (["*"], "127.0.0.1", None),
    ],
)
def test_which_hosts_are_answered(configured, bind, expected):
    got = allowed_hosts(configured, bind)
    assert (None if got is None else set(got)) == expected


@given(st.text(max_size=40))
async def test_any_host_header_is_judged_without_an_error(host):
    hosts = allowed_hosts(None, "127.0.0.1")
    async with server(hosts, None) as base:
        try:
            code = await status(f"{base}/health", headers={"Host": host})
        except (ValueError, aiohttp.ClientError):
            return  # a header the client itself refuses to send
        assert code in (200, 400, 421)
