"""A minimal HTTP/1.1 keep-alive client for load generation (cheaper per request than a full client)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Connection:
    """One persistent connection; requests on it are serialised, as a driver's phone would send them."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lock = asyncio.Lock()

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send one request and read the whole response."""
        async with self.lock:
            try:
                return await self._send(method, path, body, headers)
            except (ConnectionError, IndexError):
                # The server closed an idle keep-alive connection: reconnect once and resend.
                self.writer = None
                return await self._send(method, path, body, headers)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None,
                    headers: dict[str, str] | None) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self._connect()
        assert self.reader is not None and self.writer is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(payload)}",
                "Content-Type: application/json", "Connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        data = await self.reader.readexactly(length) if length else b""
        return status, data

    async def close(self) -> None:
        """Close the socket."""
        if self.writer is not None:
            self.writer.close()
