"""``sserpent.ollama`` against the ``ollama`` package: both read the same NDJSON bytes from the mock
server (``tests/fixtures/wire/ollama_*.ndjson``), and give the same chunks (every field, by
attribute and by item, ``None`` for what is absent), the same usage numbers and durations, the
same request bodies, and the same exception classes and fields for error bodies, ``{"error": ...}``
lines and failed connects. Where they differ (a cut, a stream without its ``"done": true`` line,
a line over the size limit), sserpent's typed errors are checked exactly.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any, List, Tuple

import httpx
import ollama
import pytest
import sserpent
from sserpent import ollama as so
from sserpent.testing import MockServer

WIRE = Path(__file__).parent / "fixtures" / "wire"
NDJSON = {"content-type": "application/x-ndjson"}
MESSAGES = [{"role": "user", "content": "Hello"}]
FIELDS = ("model", "created_at", "done", "done_reason", "total_duration", "load_duration", "prompt_eval_count",
          "prompt_eval_duration", "eval_count", "eval_duration")


def lines(name: str) -> List[bytes]:
    return (WIRE / f"{name}.ndjson").read_bytes().splitlines(keepends=True)


def expected(name: str) -> Any:
    return json.loads((WIRE / f"{name}.expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def server() -> Any:
    with MockServer() as s:
        yield s


def call(client: Any, name: str, **kw: Any) -> Any:
    if name.startswith("ollama_chat"):
        return client.chat(model="qwen3:8b", messages=MESSAGES, stream=True, **kw)
    return client.generate(model="llama3.2", prompt="Why is the sky blue?", stream=True, **kw)


def read_both(server: MockServer, name: str, body: List[bytes]) -> Tuple[List[Any], List[Any]]:
    server.enqueue(events=body, headers=NDJSON)
    ours = list(call(so.Client(host=server.url), name))
    server.enqueue(events=body, headers=NDJSON)
    theirs = list(call(ollama.Client(host=server.url), name))
    return ours, theirs


def assert_same_chunk(ours: Any, theirs: Any) -> None:
    assert ours.to_dict() == theirs.model_dump(exclude_none=True)
    for f in FIELDS:
        assert getattr(ours, f) == getattr(theirs, f), f
        if f in theirs:
            assert ours[f] == theirs[f], f
    if isinstance(theirs, ollama.ChatResponse):
        for f in ("role", "content", "thinking", "images", "tool_name", "tool_calls"):
            assert getattr(ours.message, f) == getattr(theirs.message, f), f
        assert ours["message"]["content"] == theirs["message"]["content"]
    else:
        for f in ("response", "thinking", "context", "logprobs"):
            assert getattr(ours, f) == getattr(theirs, f), f
        assert ours["response"] == theirs["response"]


@pytest.mark.parametrize("name", ["ollama_chat", "ollama_generate"])
def test_same_chunks_as_the_ollama_package(server: MockServer, name: str) -> None:
    ours, theirs = read_both(server, name, lines(name))
    assert len(ours) == len(theirs) == expected(name)["chunks"]
    for o, t in zip(ours, theirs):
        assert_same_chunk(o, t)
    assert ours[-1].done is True and ours[-1].eval_count == theirs[-1].eval_count
    assert all(o.eval_count is None for o in ours[:-1])
    # The same requests, but for the client's own user-agent.
    a, b = server.requests
    assert (a.method, a.path) == (b.method, b.path) == ("POST", "/api/chat" if "chat" in name else "/api/generate")
    assert json.loads(a.body) == json.loads(b.body)
    for h in ("content-type", "accept"):
        assert a.headers[h] == b.headers[h]


@pytest.mark.parametrize("name", ["ollama_chat", "ollama_generate"])
def test_async_same_chunks(server: MockServer, name: str) -> None:
    async def both() -> Tuple[List[Any], List[Any]]:
        server.enqueue(events=lines(name), headers=NDJSON)
        ours = [c async for c in await call(so.AsyncClient(host=server.url), name)]
        server.enqueue(events=lines(name), headers=NDJSON)
        theirs = [c async for c in await call(ollama.AsyncClient(host=server.url), name)]
        return ours, theirs

    ours, theirs = asyncio.run(both())
    assert len(ours) == len(theirs) == expected(name)["chunks"]
    for o, t in zip(ours, theirs):
        assert_same_chunk(o, t)


@pytest.mark.parametrize("name", ["ollama_chat", "ollama_generate"])
def test_final_text_and_reasoning(server: MockServer, name: str) -> None:
    exp = expected(name)
    client = so.Client(host=server.url)
    server.enqueue(events=lines(name), headers=NDJSON)
    f = call(client, name).final()
    assert (f.text, f.reasoning, f.role, f.finish_reason) == (exp["text"], exp.get("reasoning"), "assistant", "stop")
    assert f.usage.to_dict() == exp["usage"]
    assert f.model == json.loads(lines(name)[0])["model"]
    server.enqueue(events=lines(name), headers=NDJSON)
    assert "".join(call(client, name).text()) == exp["text"]
    server.enqueue(events=lines(name), headers=NDJSON)
    assert "".join(call(client, name).reasoning_text()) == (exp.get("reasoning") or "")


def test_tool_calls_fold(server: MockServer) -> None:
    first = lines("ollama_chat")[0]
    call_line = json.dumps({
        "model": "qwen3:8b", "created_at": "2025-06-01T10:20:31.0Z", "done": False,
        "message": {"role": "assistant", "content": "",
                    "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    }).encode() + b"\n"
    server.enqueue(events=[first, call_line, lines("ollama_chat")[-1]], headers=NDJSON)
    f = call(so.Client(host=server.url), "ollama_chat").final()
    assert [t.to_dict() for t in f.tool_calls] == [
        {"id": None, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    server.enqueue(events=[first, call_line, lines("ollama_chat")[-1]], headers=NDJSON)
    ours, theirs = read_both(server, "ollama_chat", [first, call_line, lines("ollama_chat")[-1]])
    assert ours[1].message.tool_calls[0].function.arguments.to_dict() == \
        theirs[1].message.tool_calls[0].function.arguments == {"city": "Paris"}


def test_not_streamed(server: MockServer) -> None:
    last = json.loads(lines("ollama_chat")[-1])
    last["message"]["content"] = "Hello!"
    server.enqueue(json=last)
    ours = so.Client(host=server.url).chat(model="qwen3:8b", messages=MESSAGES)
    server.enqueue(json=last)
    theirs = ollama.Client(host=server.url).chat(model="qwen3:8b", messages=MESSAGES)
    assert_same_chunk(ours, theirs)
    assert json.loads(server.requests[0].body) == json.loads(server.requests[1].body)
    assert json.loads(server.requests[0].body)["stream"] is False


# --- errors ------------------------------------------------------------------------------------


def raised(fn: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        fn()
    return info.value


@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_response_error(server: MockServer, status: int) -> None:
    body = {"error": 'model "nope" not found, try pulling it first'}
    server.enqueue(status=status, json=body)
    ours = raised(lambda: so.Client(host=server.url, max_retries=0).chat(model="nope", messages=MESSAGES,
                                                                           stream=True))
    server.enqueue(status=status, json=body)
    theirs = raised(lambda: list(ollama.Client(host=server.url).chat(model="nope", messages=MESSAGES, stream=True)))
    assert type(theirs) is ollama.ResponseError and type(ours) is so.ResponseError
    assert (ours.error, ours.status_code, str(ours)) == (theirs.error, theirs.status_code, str(theirs))
    assert isinstance(ours, sserpent.APIError)
    assert isinstance(ours.__cause__, sserpent.APIStatusError) and ours.__cause__.status_code == status


def test_error_line_mid_stream(server: MockServer) -> None:
    err = b'{"error":"an error was encountered while running the model: unexpected EOF"}\n'
    body = [*lines("ollama_chat")[:4], err, lines("ollama_chat")[-1]]
    got: List[Any] = []

    def ours_read() -> None:
        for c in call(so.Client(host=server.url), "ollama_chat"):
            got.append(c.to_dict())

    server.enqueue(events=body, headers=NDJSON)
    ours = raised(ours_read)
    theirs_got: List[Any] = []

    def theirs_read() -> None:
        for c in call(ollama.Client(host=server.url), "ollama_chat"):
            theirs_got.append(c.model_dump(exclude_none=True))

    server.enqueue(events=body, headers=NDJSON)
    theirs = raised(theirs_read)
    assert got == theirs_got == [json.loads(x) for x in body[:4]]
    assert type(ours) is so.ResponseError and type(theirs) is ollama.ResponseError
    assert (ours.error, ours.status_code, str(ours)) == (theirs.error, theirs.status_code, str(theirs))
    assert type(ours.__cause__) is sserpent.StreamError
    assert ours.__cause__.body == json.loads(err)


def test_error_line_async(server: MockServer) -> None:
    err = b'{"error":"boom"}\n'
    server.enqueue(events=[lines("ollama_generate")[0], err], headers=NDJSON)

    async def read() -> List[Any]:
        out = []
        async for c in await call(so.AsyncClient(host=server.url), "ollama_generate"):
            out.append(c.response)
        return out

    with pytest.raises(so.ResponseError) as info:
        asyncio.run(read())
    assert (info.value.error, info.value.status_code) == ("boom", -1)


@pytest.mark.parametrize("stream", [False, True])
def test_connect_error_is_a_connection_error(stream: bool) -> None:
    """The package raises ConnectionError for a failed connect, but lets httpx.ConnectError
    through when streaming; sserpent's ConnectError is both a ConnectionError and an
    APIConnectionError, either way."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"127.0.0.1:{port}"
    ours = raised(lambda: so.Client(host=host, max_retries=0).chat(model="m", messages=MESSAGES, stream=stream))
    theirs = raised(lambda: list(ollama.Client(host=host).chat(model="m", messages=MESSAGES, stream=True))
                    if stream else ollama.Client(host=host).chat(model="m", messages=MESSAGES))
    assert type(ours) is so.ConnectError
    assert isinstance(ours, ConnectionError) and isinstance(ours, sserpent.APIConnectionError)
    if stream:
        assert type(theirs) is httpx.ConnectError
    else:
        assert type(theirs) is ConnectionError
        assert str(ours).startswith(str(theirs))
    assert type(ours.__cause__) is sserpent.APIConnectionError
    assert "connection failed" in str(ours.__cause__)


def test_cut_mid_stream(server: MockServer) -> None:
    """The package lets httpx's transport error through; sserpent raises IncompleteStreamError
    (both connection-level), after the same chunks."""
    body = lines("ollama_chat")
    server.enqueue(events=body, cut_after=3)
    got: List[Any] = []
    with pytest.raises(sserpent.IncompleteStreamError) as info:
        for c in call(so.Client(host=server.url), "ollama_chat"):
            got.append(c.to_dict())
    assert "the connection broke after 3 complete chunks" in str(info.value)
    server.enqueue(events=body, cut_after=3)
    theirs: List[Any] = []
    with pytest.raises(httpx.TransportError):
        for c in call(ollama.Client(host=server.url), "ollama_chat"):
            theirs.append(c.model_dump(exclude_none=True))
    assert got == theirs == [json.loads(x) for x in body[:3]]


def test_a_stream_without_its_done_line_is_incomplete(server: MockServer) -> None:
    body = lines("ollama_generate")[:-1]
    server.enqueue(events=body, headers=NDJSON)
    got: List[str] = []
    with pytest.raises(sserpent.IncompleteStreamError) as info:
        for c in call(so.Client(host=server.url), "ollama_generate"):
            got.append(c.response)
    assert str(info.value) == f'the stream ended without a line with "done": true, after {len(body)} complete chunks'
    assert got == [json.loads(x)["response"] for x in body]


def test_an_unterminated_last_line_is_incomplete(server: MockServer) -> None:
    body = lines("ollama_generate")
    server.enqueue(events=[*body[:2], body[2].rstrip(b"\n")], headers=NDJSON)
    with pytest.raises(sserpent.IncompleteStreamError) as info:
        list(call(so.Client(host=server.url), "ollama_generate"))
    assert str(info.value) == "the stream ended in the middle of a line, after 2 complete chunks"


def test_a_line_over_the_size_limit(server: MockServer) -> None:
    body = lines("ollama_generate")
    long = b'{"response":"' + b"x" * 200 + b'"}\n'
    server.enqueue(events=[body[0], long, *body[1:]], headers=NDJSON)
    got: List[str] = []
    with pytest.raises(sserpent.SSEError) as info:
        for c in call(so.Client(host=server.url, max_event_size=128), "ollama_generate"):
            got.append(c.response)
    assert info.value.limit == 128
    assert str(info.value) == "NDJSON line longer than max_event_size (128 bytes); the line was dropped"
    assert got == ["The"]


def test_crlf_and_blank_lines(server: MockServer) -> None:
    body = [x.replace(b"\n", b"\r\n") for x in lines("ollama_chat")]
    server.enqueue(events=[b"\n", body[0], b"  \r\n", *body[1:]], headers=NDJSON)
    got = [c.to_dict() for c in call(so.Client(host=server.url), "ollama_chat")]
    assert got == [json.loads(x) for x in lines("ollama_chat")]


# --- the core's framing switch -----------------------------------------------------------------


def test_framing_from_the_content_type(server: MockServer) -> None:
    c = sserpent.Client(base_url=server.url)
    server.enqueue(events=lines("ollama_generate"), headers={"content-type": "application/x-ndjson; charset=utf-8"})
    assert "".join(c.stream("POST", "/api/generate", json={}).text()) == expected("ollama_generate")["text"]
    # The same bytes as SSE are no event at all.
    server.enqueue(events=lines("ollama_generate"), headers=NDJSON)
    with pytest.raises(sserpent.IncompleteStreamError, match="before its first event"):
        list(c.stream("POST", "/api/generate", json={}, framing="sse"))
    # Declared as something else, read as NDJSON on request.
    server.enqueue(events=lines("ollama_generate"), headers={"content-type": "application/json"})
    chunks = list(c.stream("POST", "/api/generate", json={}, framing="ndjson"))
    assert [x.to_dict() for x in chunks] == [json.loads(x) for x in lines("ollama_generate")]
    assert repr(chunks[0]).startswith("GenerateResponse(")
    # Read as events: one a line, up to the "done": true line (what follows is not read).
    server.enqueue(events=[*lines("ollama_generate"), lines("ollama_generate")[0]], headers=NDJSON)
    events = list(c.stream("POST", "/api/generate", json={}).events())
    want = [("message", x.decode().rstrip("\n")) for x in lines("ollama_generate")]
    assert [(e.event, e.data) for e in events] == want


def test_bad_arguments_are_refused_before_sending(server: MockServer) -> None:
    c = sserpent.Client(base_url=server.url)
    with pytest.raises(ValueError, match='framing must be "sse" or "ndjson", not "jsonl"'):
        c.stream("POST", "/x", framing="jsonl")
    with pytest.raises(ValueError, match="terminator must be"):
        c.stream("POST", "/x", terminator="done:true")
    client = so.Client(host=server.url)
    with pytest.raises(TypeError, match="messages must be a sequence, not str"):
        client.chat(model="m", messages="hi")
    with pytest.raises(TypeError, match=r"tools\[0\] is a function"):
        client.chat(model="m", messages=MESSAGES, tools=[print])
    with pytest.raises(TypeError, match="model must be a str, not int"):
        client.generate(model=3)
    with pytest.raises(TypeError, match="stream must be a bool, not str"):
        client.chat(model="m", stream="yes")
    with pytest.raises(TypeError, match="host must be a str"):
        so.Client(host=11434)  # type: ignore[arg-type]
    assert server.requests == []


@pytest.mark.parametrize("host", [None, "", "1.2.3.4", ":56789", "1.2.3.4:56789", "http://1.2.3.4",
                                  "https://example.com", "example.com:56789/path/", "[0001:002:003:0004::1]:56789",
                                  "https://[::1]/p"])
def test_host_parsing_as_the_package(host: Any) -> None:
    from ollama._client import _parse_host

    assert so._parse_host(host) == _parse_host(host)


def test_ollama_host_environment(monkeypatch: pytest.MonkeyPatch, server: MockServer) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-key-123")
    server.enqueue(events=lines("ollama_generate"), headers=NDJSON)
    monkeypatch.setattr(so, "_default", None)
    assert [c.response for c in so.generate(model="llama3.2", prompt="p", stream=True)][0] == "The"
    assert server.requests[0].headers["authorization"] == "Bearer ollama-key-123"
    assert so.Client().base_url == server.url


# --- parsing NDJSON bytes already at hand ------------------------------------------------------


@pytest.mark.parametrize("name", ["ollama_chat", "ollama_generate"])
def test_iter_chunks_ndjson_however_fed(name: str) -> None:
    raw = (WIRE / f"{name}.ndjson").read_bytes()
    want = [json.loads(x) for x in raw.splitlines()]
    for pieces in ([raw], [raw[i:i + 1] for i in range(len(raw))], [raw[i:i + 7] for i in range(0, len(raw), 7)]):
        assert [c.to_dict() for c in sserpent.iter_chunks(pieces, framing="ndjson")] == want
    # Stops at the "done": true line: what follows is not read.
    assert len(list(sserpent.iter_chunks([raw + raw], framing="ndjson"))) == len(want)
    parser = sserpent.ChunkParser(True, framing="ndjson")
    got = parser.feed(raw[:-1])
    assert [c.to_dict() for c in got] == want[:-1] and not parser.done
    with pytest.raises(sserpent.IncompleteStreamError, match="in the middle of a line"):
        parser.finish()
    with pytest.raises(ValueError, match='framing must be "sse" or "ndjson"'):
        sserpent.iter_chunks([raw], framing="lines")


# --- the mock server's own Ollama replies ------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
def test_mock_default_replies(server: MockServer, path: str) -> None:
    """Nothing queued: the mock answers /api/chat and /api/generate in NDJSON, which both
    clients read alike; scripted faults apply to those replies too."""
    def call(client: Any) -> Any:
        if path == "/api/chat":
            return client.chat(model="llama3.2", messages=MESSAGES, stream=True)
        return client.generate(model="llama3.2", prompt="hi", stream=True)

    ours = list(call(so.Client(host=server.url, headers={"x-mock-chunks": "5"})))
    theirs = list(call(ollama.Client(host=server.url, headers={"x-mock-chunks": "5"})))
    assert len(ours) == len(theirs) == 6
    for o, t in zip(ours, theirs):  # two replies: their created_at may be a second apart
        assert o.to_dict() == t.model_dump(exclude_none=True) | {"created_at": o.created_at}
    text = "".join(c.message.content if path == "/api/chat" else c.response for c in ours)
    assert text == "Hello! This is the sserpent"
    assert (ours[-1].done, ours[-1].done_reason, ours[-1].eval_count) == (True, "stop", 5)
    assert server.requests[0].path == path
    assert server.requests[0].headers["content-type"] == "application/json"
    # Keep-alives through a stall are blank lines on an NDJSON reply: skipped.
    server.enqueue(stall_after=2, keepalive=0.05, stall_for=0.3)
    assert [c.to_dict() for c in call(so.Client(host=server.url, headers={"x-mock-chunks": "5"}, timeout=0.2))][
        -1]["done"] is True
    server.enqueue(cut_after=2)
    with pytest.raises(sserpent.IncompleteStreamError, match="the connection broke after 2 complete chunks"):
        list(call(so.Client(host=server.url)))


def test_sse_re_streams_ndjson_lines_as_events(server: MockServer) -> None:
    """``stream.sse()`` of an Ollama stream: each line becomes a ``data:`` event (SSE out, as
    the method says), up to the ``"done": true`` line; with a transform, the terminator follows."""
    server.enqueue(events=lines("ollama_generate"), headers=NDJSON)
    out = b"".join(call(so.Client(host=server.url), "ollama_generate").sse())
    assert out == b"".join(b"data: " + x.rstrip(b"\n") + b"\n\n" for x in lines("ollama_generate"))
    server.enqueue(events=lines("ollama_generate"), headers=NDJSON)
    out = b"".join(call(so.Client(host=server.url), "ollama_generate").sse(lambda c: c.response or None))
    want = [json.loads(x)["response"] for x in lines("ollama_generate")][:-1]
    assert out == b"".join(f"data: {t}\n\n".encode() for t in want) + b"data: [DONE]\n\n"
