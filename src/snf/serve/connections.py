"""Connection bounds inside uvicorn: a connection cap, a header-read timeout, a stall timeout.

uvicorn (0.2x-0.5x) times out idle keep-alive connections but not a client that
connects and never finishes its headers (slowloris), nor one that stops reading
a response (the transport pauses writing and waits forever). This subclass of its
h11 protocol adds both, and refuses connections past a cap at once with a 503 and
`Retry-After` (written before any request is read, so it costs one descriptor for
a moment, not a task). Production deployments should still sit behind a reverse
proxy that enforces the same (serve/README.md, "Limits"; docker/nginx.conf).
"""
from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


def refusal(status: str, retry_after: int, text: str) -> bytes:
    body = ('{"detail": "%s"}' % text).encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"retry-after: {retry_after}\r\nconnection: close\r\n\r\n").encode() + body


def guarded_protocol(max_connections: int, header_timeout: float, idle_timeout: float, retry_after: int):
    """An H11Protocol class with these bounds (uvicorn makes one instance per connection)."""

    class Guarded(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._header_timer = self._stall_timer = None
            self._seen_cycle = None
            self._refused = len(self.connections) > max_connections
            if self._refused:
                # answer, stop sending, and drain what the client sent for a moment before closing:
                # closing with its request unread would reset the connection before it reads the 503
                transport.write(refusal("503 Service Unavailable", retry_after,
                                        f"more than {max_connections} connections; try again later"))
                if transport.can_write_eof():
                    transport.write_eof()
                self.loop.call_later(1.0, transport.close)
                return
            self._arm_header_timer()

        # ---- headers must arrive within header_timeout of the first byte we wait for
        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._header_timed_out)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(refusal("408 Request Timeout", retry_after, "request headers too slow"))
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # drained, never parsed
            super().data_received(data)
            if self.cycle is not None and self.cycle is not self._seen_cycle:
                self._seen_cycle = self.cycle     # a request's headers are complete
                self._disarm_header_timer()
            elif self.cycle is None or self.cycle.response_complete:
                self._arm_header_timer()          # bytes of a next request: its headers are timed

        # ---- a response the client stops reading may stall at most idle_timeout
        def pause_writing(self) -> None:
            super().pause_writing()
            if self._stall_timer is None:
                self._stall_timer = self.loop.call_later(idle_timeout, self._stalled)

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None

        def _stalled(self) -> None:
            self._stall_timer = None
            self.transport.abort()

        def connection_lost(self, exc) -> None:
            self._disarm_header_timer()
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
            super().connection_lost(exc)

    return Guarded
