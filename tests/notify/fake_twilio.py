"""A tiny Twilio-compatible SMS gateway on loopback: the stand-in for the paid one, behind the same API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "test-token-not-a-secret"


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signal handlers to pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing."""
        yield


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` over real HTTP on a loopback port for the block; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none"))
    # Our own socket: the port is known before the server starts, and the server runs on the test's loop.
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class FakeTwilio:
    """Records the messages it accepts; `fail_with` makes it answer the next requests with an error."""

    base_url: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    fail_with: int | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[FakeTwilio]:
        """A started fake gateway, stopped after the block."""
        fake = cls()
        app = Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", fake.create, methods=["POST"])])
        async with serve(app) as url:
            fake.base_url = url
            yield fake

    async def create(self, request: Request) -> JSONResponse:
        """POST Messages.json, as Twilio answers it."""
        if not _authorized(request) or request.path_params["sid"] != ACCOUNT_SID:
            return _error(401, 20003, "Authenticate")
        if self.fail_with == 503:
            return _error(503, 20500, "Service unavailable")
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return _error(400, 12300, "Invalid Content-Type")
        form = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
        if self.fail_with == 400:
            return _error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        sid = "SM" + uuid.uuid4().hex
        self.messages.append({**form, "sid": sid})
        return JSONResponse({"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")},
                            status_code=201)


def _authorized(request: Request) -> bool:
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    return request.headers.get("authorization") == expected


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status)
