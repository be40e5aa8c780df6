"""The simulator's HTTP request handler: moto's, quiet and keeping connections alive."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


class QuietHandler(MotoRequestHandler):
    """Moto's request handler without a log line per request, keeping connections open.

    AWS endpoints keep HTTP/1.1 connections alive; werkzeug's server closes each one after
    a response because it cannot tell where an unread body ends, and after the response it
    discards whatever the client sent next. Reading each body up front, and hiding the
    socket from that clean-up, lets clients reuse connections as they would against AWS
    instead of spending their CPU on a TCP set-up per request.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, the second waits
    # for the client's delayed ACK (about 40 ms on Linux), a delay no AWS endpoint adds.
    disable_nagle_algorithm = True
    _reusable = False

    def handle_one_request(self) -> None:
        self._reusable = False  # until this request's body is read (a bad request never is)
        stream = self.rfile
        try:
            super().handle_one_request()
        finally:
            self.rfile = stream

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        length = str(environ.get("CONTENT_LENGTH") or "0")
        self._reusable = length.isdigit() and "wsgi.input_terminated" not in environ
        if self._reusable:
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length)))
            self.rfile = _NOTHING_MORE  # the next request stays in the socket for its turn
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if self._reusable and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Drop access logs; tests make thousands of requests."""


class _NothingMore(io.RawIOBase):
    """What werkzeug's after-response clean-up reads instead of the next request."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return 0


_NOTHING_MORE = io.BufferedReader(_NothingMore())
