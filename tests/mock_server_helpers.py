"""A tiny HTTP/1.1 client and SSE parser over raw sockets, for the mock server tests
(tests/test_mock_server.py, tests/test_mock_server_faults.py)."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

from sserpent.testing import MockServer


class Reply:
    def __init__(self, raw: bytes, reset: bool) -> None:
        self.raw = raw
        self.reset = reset
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete response head in {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.header_lines = lines[1:]
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.body, self.complete = self._decode(rest)

    def _decode(self, rest: bytes) -> tuple[bytes, bool]:
        if self.headers.get("transfer-encoding") != "chunked":
            length = int(self.headers.get("content-length", len(rest)))
            return rest[:length], len(rest) >= length
        body: list[bytes] = []
        pos = 0
        while True:
            end = rest.find(b"\r\n", pos)
            if end < 0:
                return b"".join(body), False
            size = int(rest[pos:end].split(b";")[0], 16)
            pos = end + 2
            if size == 0:
                return b"".join(body), rest[pos : pos + 2] == b"\r\n"
            body.append(rest[pos : pos + size])
            if len(rest) < pos + size + 2:
                return b"".join(body), False
            pos += size + 2

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[tuple[str, str]]:
        return parse_sse(self.body)


def send(
    server: MockServer,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> socket.socket:
    """Sends one request (``connection: close``) and returns the socket."""
    payload = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{server.port}", "connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += ["content-type: application/json", f"content-length: {len(payload)}", "", ""]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall("\r\n".join(lines).encode() + payload)
    return sock


def read_to_end(sock: socket.socket) -> tuple[bytes, bool]:
    out = bytearray()
    try:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return bytes(out), False
            out += data
    except ConnectionResetError:
        return bytes(out), True
    finally:
        sock.close()


def call(server: MockServer, path: str, body: Any = None, **kw: Any) -> Reply:
    return Reply(*read_to_end(send(server, path, body, **kw)))


def parse_sse(body: bytes) -> list[tuple[str, str]]:
    """(event type, data) pairs, by the WHATWG rules (enough of them for these tests)."""
    text = body.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    events: list[tuple[str, str]] = []
    data: list[str] = []
    kind = "message"
    for line in re.split(r"\r\n|\r|\n", text):
        if line == "":
            if data:
                events.append((kind, "\n".join(data)))
            data, kind = [], "message"
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
    return events


def frames(body: bytes) -> list[bytes]:
    """The body split after every blank line (lines end at CRLF, LF or CR)."""
    out, start, line_start = [], 0, 0
    for m in re.finditer(rb"\r\n|\r|\n", body):
        if m.start() == line_start:  # an empty line ends the frame
            out.append(body[start : m.end()])
            start = m.end()
        line_start = m.end()
    if start < len(body):
        out.append(body[start:])
    return out


def data_json(reply: Reply) -> list[Any]:
    return [json.loads(d) for _, d in reply.events() if d != "[DONE]"]
