"""Limits on what one HTTP client may hold: header size and count, read time, connections.

uvicorn's httptools protocol has none of these: headers are buffered without bound (and
re-joined on every chunk, so one huge header costs quadratic time on the event loop), a
connection that sends nothing, or half a request, stays open for ever, and connections are
accepted without limit. ``protocol(limits)`` returns the httptools protocol with:

- **header bytes**: at most ``max_header_bytes`` (Go's ``net/http`` default, 1 MiB) from the
  start of a request to the end of its headers, counted as the bytes arrive, before parsing;
  over it, ``431`` and the connection is closed;
- **header count**: at most ``max_headers`` fields (``431``);
- **read timeout**: a request must arrive whole (headers and body) within
  ``read_timeout`` seconds of its first byte, and the first request within
  ``read_timeout`` of the TLS handshake; else ``408`` and close. The API server gives the
  whole call 10 s at most, so a slower request is useless anyway. Idle keep-alive
  connections are closed by uvicorn's ``timeout_keep_alive``;
- **connections**: past ``max_connections`` open connections, new ones are closed at once
  (the API server keeps a few per replica; this only stops floods).

The limits are checked per event, in O(1); the throughput cost is in the README.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int = 1024 * 1024
    max_headers: int = 100
    read_timeout: float = 10.0
    max_connections: int = 1000


class LimitedProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` enforcing ``limits`` (set on the subclass ``protocol`` makes)."""

    limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_count = 0
        self._in_headers = True
        self._refused = False
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            logger.warning(
                "connection limit (%d) reached: closing a new connection",
                self.limits.max_connections,
            )
            self._refused = True
            transport.close()
            return
        self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"request headers over {self.limits.max_header_bytes} bytes")
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # after a refusal the parser may still complain: say nothing
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_count = 0
        if self._read_deadline is None:
            self._arm_read_deadline()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(431, f"more than {self.limits.max_headers} request headers")
            raise _Refused  # stops the parser; data_received turns it into silence
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_read_deadline()
        self._header_bytes = 0
        super().on_message_complete()

    def _arm_read_deadline(self) -> None:
        self._read_deadline = self.loop.call_later(self.limits.read_timeout, self._read_timed_out)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self._refuse(408, f"request not received within {self.limits.read_timeout:g} s")

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` (unless a response has begun) and close the connection."""
        if self._refused:
            return
        self._refused = True
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "client"
        logger.warning("refused %s: %s (%d)", client, reason, status)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's pending receive() sees a disconnect
            self.cycle.message_event.set()
        if self.cycle is None or not self.cycle.response_started:
            body = reason.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, _REASONS[status], len(body), body)
            )
        self.transport.close()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


def protocol(limits: Limits) -> type[LimitedProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``."""
    return type("LimitedProtocol", (LimitedProtocol,), {"limits": limits})
