"""The embedded mock LLM server (``sserpent.testing.MockServer``), tested over real sockets.

Only the standard library talks to the server here (raw sockets and ``http.client``), so the
bytes on the wire are seen exactly: chunked framing, a body cut short, a reset.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sserpent import testing
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
SAMPLES = sorted(WIRE.glob("*.sse"))
DEFAULT_TEXT = "Hello! This is the sserpent mock server."

# The fixture under test, under a name that the tests take as a parameter.
mock_server = testing.mock_server


# --- a tiny HTTP/1.1 client and SSE parser ---------------------------------------------------


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


# --- default responses -----------------------------------------------------------------------


def test_openai_chat_stream_shapes(mock_server: MockServer) -> None:
    r = call(
        mock_server,
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "stream": True, "n": 2, "stream_options": {"include_usage": True}},
    )
    assert r.status == 200 and r.complete
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["x-request-id"].startswith("req_mock_")
    ev = r.events()
    assert ev[-1] == ("message", "[DONE]")
    chunks = [json.loads(d) for _, d in ev[:-1]]
    # Two role chunks, 7 words for each of 2 choices, two finish chunks, one usage chunk.
    assert len(chunks) == 2 + 14 + 2 + 1
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for c in chunks:
        assert list(c)[:6] == ["id", "object", "created", "model", "system_fingerprint", "choices"]
        assert c["object"] == "chat.completion.chunk" and c["model"] == "gpt-4o-mini"
        assert "usage" in c
    assert [c["choices"][0]["delta"] for c in chunks[:2]] == [
        {"role": "assistant", "content": "", "refusal": None}
    ] * 2
    texts = {0: "", 1: ""}
    for c in chunks[2:16]:
        (choice,) = c["choices"]
        assert set(choice) == {"index", "delta", "logprobs", "finish_reason"}
        assert choice["finish_reason"] is None and choice["logprobs"] is None
        texts[choice["index"]] += choice["delta"]["content"]
    assert texts == {0: DEFAULT_TEXT, 1: DEFAULT_TEXT}
    for c in chunks[16:18]:
        assert c["choices"][0]["delta"] == {} and c["choices"][0]["finish_reason"] == "stop"
        assert c["usage"] is None
    usage = chunks[18]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 14
    u = usage["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]


def test_openai_chat_without_include_usage_sends_no_usage(mock_server: MockServer) -> None:
    r = call(mock_server, "/chat/completions", {"stream": True})
    chunks = data_json(r)
    assert len(chunks) == 1 + 7 + 1
    assert all("usage" not in c for c in chunks)
    assert chunks[0]["model"] == "sserpent-mock"
    assert r.events()[-1][1] == "[DONE]"


def test_openai_chat_non_stream(mock_server: MockServer) -> None:
    r = call(mock_server, "/v1/chat/completions", {"model": "m", "n": 3})
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    v = r.json()
    assert v["object"] == "chat.completion"
    assert [c["index"] for c in v["choices"]] == [0, 1, 2]
    assert v["choices"][0]["message"]["content"] == DEFAULT_TEXT
    assert v["choices"][0]["finish_reason"] == "stop"
    assert v["usage"]["completion_tokens"] == 21


@pytest.mark.parametrize(
    "path",
    [
        "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21",
        "/openai/v1/chat/completions",
    ],
)
def test_azure_chat_stream_shapes(mock_server: MockServer, path: str) -> None:
    r = call(mock_server, path, {"stream": True, "stream_options": {"include_usage": True}})
    chunks = data_json(r)
    first = chunks[0]
    assert first["choices"] == [] and first["prompt_filter_results"][0]["prompt_index"] == 0
    body = chunks[1:-1]
    assert len(body) == 1 + 7 + 1
    for c in body:
        assert "content_filter_results" in c["choices"][0]
        assert c["object"] == "chat.completion.chunk"
    assert body[0]["choices"][0]["content_filter_results"] == {}
    assert body[1]["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in body) == DEFAULT_TEXT
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 7
    if "deployments" in path:
        assert body[0]["model"] == "my-gpt"
        assert mock_server.requests[0].query == "api-version=2024-10-21"
        assert mock_server.requests[0].path == "/openai/deployments/my-gpt/chat/completions"
    assert "apim-request-id" in r.headers


def test_legacy_completions(mock_server: MockServer) -> None:
    r = call(mock_server, "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "stream": True})
    chunks = data_json(r)
    assert all(c["object"] == "text_completion" for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == DEFAULT_TEXT
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert r.events()[-1][1] == "[DONE]"
    v = call(mock_server, "/v1/completions", {"model": "x"}).json()
    assert v["object"] == "text_completion" and v["choices"][0]["text"] == DEFAULT_TEXT


def test_responses_api(mock_server: MockServer) -> None:
    r = call(mock_server, "/v1/responses", {"model": "gpt-4.1-mini", "stream": True, "input": "hi"})
    ev = r.events()
    kinds = [k for k, _ in ev]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[4:11] == ["response.output_text.delta"] * 7
    assert kinds[11:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    data = [json.loads(d) for _, d in ev]
    assert [d["type"] for d in data] == kinds
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert "".join(d["delta"] for d in data[4:11]) == DEFAULT_TEXT
    done = data[-1]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] == 7
    assert b"[DONE]" not in r.body


def test_anthropic_messages(mock_server: MockServer) -> None:
    r = call(mock_server, "/v1/messages", {"model": "claude-sonnet-4", "stream": True, "max_tokens": 10})
    ev = r.events()
    kinds = [k for k, _ in ev]
    assert kinds == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 7,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(d) for _, d in ev]
    assert [d["type"] for d in data] == kinds
    assert data[0]["message"]["model"] == "claude-sonnet-4"
    assert "".join(d["delta"]["text"] for d in data[3:10]) == DEFAULT_TEXT
    assert all(d["delta"]["type"] == "text_delta" for d in data[3:10])
    assert data[-2]["delta"]["stop_reason"] == "end_turn" and data[-2]["usage"]["output_tokens"] == 7
    v = call(mock_server, "/v1/messages", {"model": "c"}).json()
    assert v["type"] == "message" and v["content"][0]["text"] == DEFAULT_TEXT


def test_oci_generate_text(mock_server: MockServer) -> None:
    body = {
        "servingMode": {"servingType": "ON_DEMAND", "modelId": "cohere.command"},
        "inferenceRequest": {"runtimeType": "COHERE", "prompt": "hi", "isStream": True},
    }
    r = call(mock_server, "/20231130/actions/generateText", body)
    chunks = data_json(r)
    assert len(chunks) == 7 and all(set(c) == {"id", "text"} for c in chunks)
    assert "".join(c["text"] for c in chunks) == DEFAULT_TEXT
    assert b"[DONE]" not in r.body
    assert "opc-request-id" in r.headers


def test_oci_chat_generic(mock_server: MockServer) -> None:
    body = {"chatRequest": {"apiFormat": "GENERIC", "isStream": True, "messages": []}}
    r = call(mock_server, "/20231130/actions/chat", body)
    ev = r.events()
    assert ev[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in ev[:-1]]
    text = "".join(c["message"]["content"][0]["text"] for c in chunks[:7])
    assert text == DEFAULT_TEXT
    assert all(c["message"]["role"] == "ASSISTANT" for c in chunks[:7])
    assert chunks[7]["finishReason"] == "stop"
    assert set(chunks[8]["usage"]) == {"completionTokens", "promptTokens", "totalTokens"}


def test_oci_chat_cohere(mock_server: MockServer) -> None:
    body = {"chatRequest": {"apiFormat": "COHERE", "isStream": True, "message": "Hi?"}}
    chunks = data_json(call(mock_server, "/20231130/actions/chat", body))
    assert all(c["apiFormat"] == "COHERE" for c in chunks)
    assert "".join(c["text"] for c in chunks[:-1]) == DEFAULT_TEXT
    assert chunks[-1]["text"] == DEFAULT_TEXT and chunks[-1]["finishReason"] == "COMPLETE"
    assert all("finishReason" not in c for c in chunks[:-1])


def test_unknown_paths_get_an_openai_404(mock_server: MockServer) -> None:
    r = call(mock_server, "/v1/nothing", {})
    assert r.status == 404
    assert r.json() == {
        "error": {
            "message": "Invalid URL (POST /v1/nothing)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert call(mock_server, "/v1/chat/completions", method="GET").status == 404
    assert call(mock_server, "/v1/chat/completions", b"{not json").status == 400


def test_load_headers(mock_server: MockServer) -> None:
    before = time.time_ns()
    r = call(
        mock_server,
        "/v1/chat/completions",
        {"stream": True},
        headers={"x-mock-chunks": "50", "x-mock-timestamps": "1", "x-mock-interval-ms": "1"},
    )
    after = time.time_ns()
    chunks = data_json(r)
    content = [c for c in chunks if c["choices"] and "content" in c["choices"][0]["delta"]]
    assert len(content) == 51  # the role chunk has an empty content
    stamped = [c for c in chunks if "x_sent_ns" in c]
    assert len(stamped) == 50 and "x_sent_ns" not in chunks[0]
    stamps = [c["x_sent_ns"] for c in stamped]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    words = "".join(c["choices"][0]["delta"]["content"] for c in stamped)
    assert words.startswith(DEFAULT_TEXT + " Hello! This")
    assert list(stamped[0])[-1] == "x_sent_ns"


def test_big_stream_is_complete(mock_server: MockServer) -> None:
    r = call(mock_server, "/v1/chat/completions", {"stream": True}, headers={"x-mock-chunks": "200000"})
    assert r.complete
    assert r.body.count(b"\n\ndata: ") == 200_000 + 2
    assert r.body.endswith(b"data: [DONE]\n\n")


# --- replay ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_replays_wire_samples_byte_for_byte(mock_server: MockServer, sample: Path) -> None:
    raw = sample.read_bytes()
    mock_server.enqueue(sse_file=sample)
    mock_server.enqueue(sse=raw, delay=0.001)
    mock_server.enqueue(sse_file=str(sample), headers={"content-type": "text/event-stream"})
    for _ in range(3):
        r = call(mock_server, "/v1/chat/completions", {"stream": True})
        assert r.status == 200 and r.complete
        assert r.body == raw
    assert r.headers["content-type"] == "text/event-stream"
    assert mock_server.pending == 0


def test_paced_replay_sends_one_frame_per_chunk(mock_server: MockServer) -> None:
    raw = (WIRE / "anthropic_messages.sse").read_bytes()
    mock_server.enqueue(sse=raw, delay=0.001)
    r = call(mock_server, "/v1/messages", {"stream": True})
    rest, sizes = r.raw.partition(b"\r\n\r\n")[2], []
    while not rest.startswith(b"0\r\n"):
        line, _, rest = rest.partition(b"\r\n")
        sizes.append(int(line, 16))
        rest = rest[sizes[-1] + 2 :]
    assert sizes == [len(f) for f in frames(raw)]
    assert all(f.endswith(b"\r\n\r\n") for f in frames(raw))


def test_event_items(mock_server: MockServer) -> None:
    items: list[Any] = [
        {"choices": [{"delta": {"content": "h\u00e9"}}]},
        "[DONE]",
        "two\nlines",
        {"event": "ping", "data": {"type": "ping"}},
        {"event": "x", "data": "d", "id": "7", "retry": 1500},
        {"data": "only data"},
        b": a comment\n\n",
        b"\xff\xfe garbage\n\n",
        [1, 2],
    ]
    try:
        from sserpent import Event
    except ImportError:
        pass
    else:
        items.append(Event(data="{}", event="message_stop", id="9"))
        items.append(Event(data="plain"))
    mock_server.enqueue(events=items)
    r = call(mock_server, "/anything", {})
    expected = (
        'data: {"choices":[{"delta":{"content":"h\u00e9"}}]}\n\n'.encode()
        + b"data: [DONE]\n\n"
        + b"data: two\ndata: lines\n\n"
        + b'event: ping\ndata: {"type":"ping"}\n\n'
        + b"event: x\nid: 7\nretry: 1500\ndata: d\n\n"
        + b"data: only data\n\n"
        + b": a comment\n\n"
        + b"\xff\xfe garbage\n\n"
        + b"data: [1,2]\n\n"
    )
    if len(items) > 9:
        expected += b"event: message_stop\nid: 9\ndata: {}\n\n" + b"data: plain\n\n"
    assert r.body == expected and r.complete


def test_midstream_error_event(mock_server: MockServer) -> None:
    err = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    mock_server.enqueue(events=[{"choices": [{"index": 0, "delta": {"content": "Hel"}}]}, err, "[DONE]"])
    ev = call(mock_server, "/v1/chat/completions", {"stream": True}).events()
    assert json.loads(ev[1][1]) == err


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


# --- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_and_urls() -> None:
    server = MockServer()
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.base_url == server.url + "/v1"
    assert repr(server) == f"<MockServer {server.url} (running)>"
    server.enqueue(stall_after=0)
    sock = send(server, "/x", {})
    assert sock.recv(100)
    server.close()
    server.close()
    assert server.closed and "(closed)" in repr(server)
    rest, was_reset = read_to_end(sock)
    assert not was_reset and b"data:" not in rest
    assert server.connections[0].closed_by == "server"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    with MockServer(port=0) as other:
        assert not other.closed
    assert other.closed


def test_port_in_use_raises_oserror() -> None:
    with MockServer() as server, pytest.raises(OSError):
        MockServer(port=server.port)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_leaves_the_parents_server_alone(mock_server: MockServer) -> None:
    pid = os.fork()
    if pid == 0:  # the child: use the parent's server, then drop its copy
        code = 1
        try:
            status = call(mock_server, "/v1/chat/completions", {}).status
            mock_server.close()
            code = 0 if status == 200 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not mock_server.closed
    assert call(mock_server, "/v1/chat/completions", {}).status == 200
    assert len(mock_server.requests) == 2


def test_many_concurrent_paced_streams(mock_server: MockServer) -> None:
    socks = [
        send(
            mock_server,
            "/v1/chat/completions",
            {"stream": True},
            headers={"x-mock-chunks": "10", "x-mock-interval-ms": "10"},
        )
        for _ in range(200)
    ]
    for s in socks:
        r = Reply(*read_to_end(s))
        assert r.complete and len(r.events()) == 13
    assert len(mock_server.connections) == 200


def test_cli_mock_server_runs_until_interrupted() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sserpent", "mock-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        assert m, line
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        conn.request("POST", "/v1/chat/completions", body=b'{"stream": true}')
        assert b"data: [DONE]" in conn.getresponse().read()
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_cli_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sserpent", "mock-server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "--port" in out.stdout and "--host" in out.stdout
