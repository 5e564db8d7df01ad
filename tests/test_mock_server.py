"""The embedded mock LLM server (``sserpent.testing.MockServer``), tested over real sockets:
its default responses, replays and lifecycle (faults and records: test_mock_server_faults.py).

Only the standard library talks to the server here (raw sockets and ``http.client``), so the
bytes on the wire are seen exactly: chunked framing, a body cut short, a reset.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from live_helpers import WIRE
from mock_server_helpers import Reply, call, data_json, frames, read_to_end, send
from sserpent import testing
from sserpent.testing import MockServer

SAMPLES = sorted(WIRE.glob("*.sse"))
DEFAULT_TEXT = "Hello! This is the sserpent mock server."

# The fixture under test, under a name that the tests take as a parameter.
mock_server = testing.mock_server


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
