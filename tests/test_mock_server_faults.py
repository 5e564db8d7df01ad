"""The mock server's faults (cuts, resets, stalls, delays, statuses, scripted responses) and
its records of requests and connections, seen on the wire over raw sockets."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from typing import Any

import pytest
from live_helpers import WIRE
from mock_server_helpers import Reply, call, frames, read_to_end, send
from sserpent import testing
from sserpent.testing import MockServer

# The fixture under test, under a name that the tests take as a parameter.
mock_server = testing.mock_server


# --- faults ----------------------------------------------------------------------------------


def test_cut_after_n_frames(mock_server: MockServer) -> None:
    raw = (WIRE / "openai_chat_usage.sse").read_bytes()
    mock_server.enqueue(sse=raw, cut_after=3)
    r = call(mock_server, "/v1/chat/completions", {"stream": True})
    assert not r.complete and not r.reset
    assert r.body == b"".join(frames(raw)[:3])
    # A close by the server is recorded before the client can see it.
    (conn,) = mock_server.connections
    assert conn.closed_by == "server" and not conn.open


def test_cut_after_past_the_end_still_cuts(mock_server: MockServer) -> None:
    mock_server.enqueue(events=["a", "b"], cut_after=10)
    r = call(mock_server, "/x", {})
    assert r.body == b"data: a\n\ndata: b\n\n" and not r.complete


def test_cut_mid_event_splits_a_multibyte_character(mock_server: MockServer) -> None:
    raw = (WIRE / "azure_chat.sse").read_bytes()
    fs = frames(raw)
    mock_server.enqueue(sse_file=WIRE / "azure_chat.sse", cut_after=2, cut_mid_event=True)
    r = call(mock_server, "/openai/v1/chat/completions", {"stream": True})
    assert not r.complete
    head, tail = r.body[: len(fs[0]) + len(fs[1])], r.body[len(fs[0]) + len(fs[1]) :]
    assert head == fs[0] + fs[1]
    assert 0 < len(tail) < len(fs[2]) and fs[2].startswith(tail)
    with pytest.raises(UnicodeDecodeError):
        tail.decode("utf-8")


def test_cut_mid_event_without_multibyte_splits_in_the_middle(mock_server: MockServer) -> None:
    mock_server.enqueue(events=["first", "0123456789"], cut_after=1, cut_mid_event=True)
    r = call(mock_server, "/x", {})
    assert r.body == b"data: first\n\n" + b"data: 0123456789\n\n"[:9]


def test_reset_closes_with_rst(mock_server: MockServer) -> None:
    mock_server.enqueue(events=["a", "b", "c"], cut_after=2, reset=True)
    sock = send(mock_server, "/x", {})
    raw, was_reset = read_to_end(sock)
    assert was_reset
    assert Reply(raw, True).body == b"data: a\n\ndata: b\n\n"
    mock_server.enqueue(close_before_headers=True, reset=True)
    raw, was_reset = read_to_end(send(mock_server, "/x", {}))
    assert (raw, was_reset) == (b"", True)


def test_stall_with_keepalives_until_the_client_leaves(mock_server: MockServer) -> None:
    mock_server.enqueue(stall_after=2, keepalive=0.05)
    sock = send(mock_server, "/v1/chat/completions", {"stream": True})
    got = b""
    while got.count(b": keep-alive\n\n") < 3:
        data = sock.recv(65536)
        assert data, "the server must keep the stalled connection open"
        got += data
    body = Reply(got, False).body
    fs = frames(body)
    assert fs[0].startswith(b'data: {"id":"chatcmpl-') and fs[1].startswith(b'data: {"id":"chatcmpl-')
    assert set(fs[2:]) == {b": keep-alive\n\n"}
    (conn,) = mock_server.connections
    assert conn.open and conn.closed_by is None
    sock.close()
    assert mock_server.wait_closed(conn.id, timeout=5)
    assert mock_server.connections[0].closed_by == "client"


def test_stall_without_keepalive_sends_nothing(mock_server: MockServer) -> None:
    mock_server.enqueue(events=["a", "b"], stall_after=1)
    sock = send(mock_server, "/x", {})
    got = b""
    while b"data: a\n\n" not in got:
        got += sock.recv(65536)
    ready, _, _ = select.select([sock], [], [], 0.3)
    assert ready == []
    assert mock_server.connections[0].open
    sock.close()
    assert mock_server.wait_closed(timeout=5)


def test_close_before_headers(mock_server: MockServer) -> None:
    mock_server.enqueue(close_before_headers=True)
    raw, was_reset = read_to_end(send(mock_server, "/v1/chat/completions", {"model": "m"}))
    assert (raw, was_reset) == (b"", False)
    (req,) = mock_server.requests
    assert req.json() == {"model": "m"}
    conn = http.client.HTTPConnection("127.0.0.1", mock_server.port, timeout=10)
    mock_server.enqueue(close_before_headers=True)
    with pytest.raises(http.client.RemoteDisconnected):
        conn.request("POST", "/v1/chat/completions", body=b"{}")
        conn.getresponse()


def test_headers_delay(mock_server: MockServer) -> None:
    mock_server.enqueue(headers_delay=1.0)
    sock = send(mock_server, "/v1/chat/completions", {"stream": True})
    ready, _, _ = select.select([sock], [], [], 0.3)
    assert ready == [], "nothing may arrive before the delay"
    r = Reply(*read_to_end(sock))
    assert r.status == 200 and r.complete


def test_429_with_retry_after_then_success(mock_server: MockServer) -> None:
    mock_server.enqueue(status=429, headers={"Retry-After": "0"})
    first = call(mock_server, "/v1/chat/completions", {"stream": True})
    assert first.status == 429
    assert "Retry-After: 0" in first.header_lines
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    second = call(mock_server, "/v1/chat/completions", {"stream": True})
    assert second.status == 200 and second.events()[-1][1] == "[DONE]"


def test_status_with_json_or_raw_body(mock_server: MockServer) -> None:
    err = {"error": {"message": "nope", "type": "invalid_request_error", "param": "model", "code": None}}
    mock_server.enqueue(status=400, json=err, headers={"x-request-id": "req_123"})
    mock_server.enqueue(status=502, body=b"<html>Bad gateway</html>")
    mock_server.enqueue(status=503)
    r = call(mock_server, "/v1/chat/completions", {})
    assert (r.status, r.json(), r.headers["x-request-id"]) == (400, err, "req_123")
    assert r.headers["content-type"] == "application/json"
    r = call(mock_server, "/v1/chat/completions", {})
    assert (r.status, r.body) == (502, b"<html>Bad gateway</html>")
    r = call(mock_server, "/v1/chat/completions", {})
    assert r.status == 503 and r.json()["error"]["type"] == "server_error"


def test_fixed_bodies_are_one_frame_for_faults(mock_server: MockServer) -> None:
    body = json.dumps({"id": "x", "text": "caf\u00e9 au lait"}, ensure_ascii=False).encode()
    mock_server.enqueue(body=body, cut_after=0, cut_mid_event=True)
    r = call(mock_server, "/v1/chat/completions", {})
    assert r.headers["content-length"] == str(len(body)) and not r.complete
    assert 0 < len(r.body) < len(body) and body.startswith(r.body)
    conn = http.client.HTTPConnection("127.0.0.1", mock_server.port, timeout=10)
    mock_server.enqueue(json={"a": 1}, cut_after=0)
    conn.request("POST", "/v1/chat/completions", body=b"{}")
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    conn.close()
    # The default non-streamed answer, stalled after its head.
    mock_server.enqueue(stall_after=0)
    sock = send(mock_server, "/v1/chat/completions", {"stream": False})
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    ready, _, _ = select.select([sock], [], [], 0.2)
    assert ready == []
    sock.close()


def test_scripted_default_keeps_faults_and_status(mock_server: MockServer) -> None:
    mock_server.enqueue(status=201, headers={"x-extra": "1"}, delay=0.001)
    r = call(mock_server, "/v1/messages", {"stream": True})
    assert (r.status, r.headers["x-extra"]) == (201, "1")
    assert r.events()[-1][0] == "message_stop"


def test_path_filter_and_times(mock_server: MockServer) -> None:
    mock_server.enqueue(status=500, path="/messages")
    mock_server.enqueue(status=429, times=2)
    assert mock_server.pending == 3
    assert call(mock_server, "/v1/chat/completions", {}).status == 429
    assert call(mock_server, "/v1/messages", {}).status == 500
    assert call(mock_server, "/v1/messages", {}).status == 429
    assert call(mock_server, "/v1/messages", {}).status == 200
    assert mock_server.pending == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": [], "json": {}},
        {"sse": b"", "body": b""},
        {"cut_mid_event": True},
        {"keepalive": 1.0},
        {"keepalive": 0, "stall_after": 1},
        {"times": 0},
        {"status": 99},
        {"status": 101},
        {"cut_after": 1, "stall_after": 1},
        {"delay": -1.0},
        {"headers": {"x": "a\r\nb"}},
    ],
)
def test_enqueue_rejects_nonsense(mock_server: MockServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        mock_server.enqueue(**kwargs)
    assert mock_server.pending == 0


def test_enqueue_type_errors(mock_server: MockServer) -> None:
    with pytest.raises(TypeError):
        mock_server.enqueue(sse=12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mock_server.enqueue(events=[object()])
    with pytest.raises(FileNotFoundError):
        mock_server.enqueue(sse_file=WIRE / "missing.sse")
    with pytest.raises(TypeError):
        mock_server.enqueue({"a": 1})  # type: ignore[misc]


# --- records ---------------------------------------------------------------------------------


def test_records_requests_and_keep_alive_connections(mock_server: MockServer) -> None:
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", mock_server.port, timeout=10)
    for i in range(3):
        conn.request(
            "POST",
            f"/v1/chat/completions?i={i}",
            body=json.dumps({"model": "m", "stream": i == 1}),
            headers={
                "Authorization": "Bearer sk-secret",
                "X-Mock-Chunks": "2",
                "Content-Type": "application/json",
            },
        )
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    conn.close()
    reqs = mock_server.requests
    assert [r.query for r in reqs] == ["i=0", "i=1", "i=2"]
    r = reqs[1]
    assert (r.method, r.path) == ("POST", "/v1/chat/completions")
    assert r.headers["authorization"] == "Bearer sk-secret"
    assert r.headers["x-mock-chunks"] == "2"
    assert r.json() == {"model": "m", "stream": True}
    assert r.body == b'{"model": "m", "stream": true}'
    assert t0 <= r.received_at <= time.monotonic()
    assert "sk-secret" not in repr(r) and "sk-secret" not in repr(reqs)
    assert len({x.connection_id for x in reqs}) == 1
    assert mock_server.wait_closed(reqs[0].connection_id, timeout=5)
    (c,) = mock_server.connections
    assert (c.id, c.requests, c.open, c.closed_by) == (reqs[0].connection_id, 3, False, "client")
    assert c.bytes_sent > 0
    assert c.closed_at is not None
    assert t0 <= c.opened_at <= c.closed_at <= time.monotonic()
    assert "closed by client" in repr(c)


def test_client_closing_mid_stream_is_recorded_within_a_second(mock_server: MockServer) -> None:
    sock = send(
        mock_server,
        "/v1/chat/completions",
        {"stream": True},
        headers={"x-mock-chunks": "100000", "x-mock-interval-ms": "20"},
    )
    assert sock.recv(65536)
    (conn,) = mock_server.connections
    assert conn.open and conn.closed_by is None and conn.closed_at is None
    sock.close()
    assert mock_server.wait_closed(conn.id, timeout=1.0)
    (conn,) = mock_server.connections
    assert conn.closed_by == "client" and not conn.open


def test_client_reset_is_recorded_as_client(mock_server: MockServer) -> None:
    mock_server.enqueue(stall_after=0)
    sock = send(mock_server, "/v1/chat/completions", {"stream": True})
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    assert mock_server.wait_closed(timeout=5)
    assert mock_server.connections[0].closed_by == "client"


def test_wait_closed(mock_server: MockServer) -> None:
    with pytest.raises(ValueError):
        mock_server.wait_closed(12345, timeout=0)
    assert mock_server.wait_closed(timeout=0.05) is False  # no connection yet
    mock_server.enqueue(stall_after=0)
    sock = send(mock_server, "/v1/chat/completions", {"stream": True})
    sock.recv(100)
    assert mock_server.wait_closed(timeout=0.1) is False
    sock.close()
    assert mock_server.wait_closed(timeout=5) is True


def test_reset_clears_queue_and_records(mock_server: MockServer) -> None:
    call(mock_server, "/v1/chat/completions", {})
    mock_server.enqueue(status=500)
    mock_server.reset()
    assert mock_server.pending == 0
    assert mock_server.requests == [] and mock_server.connections == []
    assert call(mock_server, "/v1/chat/completions", {}).status == 200
    assert len(mock_server.requests) == 1
