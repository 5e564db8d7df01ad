"""The fault matrix: every provider client (OpenAI, Azure OpenAI, OCI Generative AI, Anthropic,
Ollama's NDJSON chat and generate, OpenAI-compatible reasoning streams), sync, on asyncio and on
uvloop, against every network and protocol fault the mock server can inject, each on the
provider's own wire sample (``tests/fixtures/wire``).

For Ollama (NDJSON, one JSON document a line): a frame is a line; keep-alives and "garbage" are
blank lines (which NDJSON skips; other bytes that are no JSON raise, as ``invalid_json`` shows);
a non-JSON page raises ChunkDecodeError; the client's ``ResponseError`` / ``ConnectError`` are
checked against the core exception they chain from, which the cases then check as for the others.
Gemini and Vertex AI),
sync, on asyncio and on uvloop, against every network and protocol fault the mock server can
inject, each on the provider's own wire sample (``tests/fixtures/wire``).

For each case: the chunks before the fault arrive intact and in order (compared with the chunks
parsed here, with ``json``, from the sample's frames), then exactly the documented exception with
its fields and a message that names what went wrong; a connection left with an unfinished body
ends closed (the mock server's records say by whom); nothing hangs (every run is bounded by
``HANG_LIMIT``). ``docs/reliability.md`` tabulates the outcomes.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import sserpent
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from live_helpers import WIRE, run_async
from sserpent import genai
from sserpent import ollama as sollama
from sserpent.oci import GenerativeAiInference
from sserpent.testing import MockServer

MODES = ("sync", "asyncio", "uvloop")
# A run that takes longer than this has hung (the slowest case takes about a second).
HANG_LIMIT = 20.0
# Frames of the sample sent whole before a fault.
K = 3
MAX_EVENT_SIZE = 16 * 1024 * 1024

OPENAI_KEY = "sk-proj-FAULTMATRIX-openai-0123456789"
AZURE_KEY = "azkey-FAULTMATRIX-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-FAULTMATRIX-0123456789"
GEMINI_KEY = "AIzaSy-FAULTMATRIX-0123456789abcdef"
GEMINI_MODEL = "gemini-2.5-flash"
AZURE_VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "Hello"}]
OCI_BODY = {
    "compartmentId": "ocid1.compartment.oc1..aaaaaaaafaultmatrix",
    "servingMode": {"servingType": "ON_DEMAND", "modelId": "ocid1.generativeaimodel.oc1..model"},
    "chatRequest": {
        "apiFormat": "GENERIC",
        "messages": [{"role": "USER", "content": [{"type": "TEXT", "text": "Hello"}]}],
    },
}

_OCI_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OCI_PRIVATE_PEM = _OCI_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode("ascii")
OCI_PUBLIC_PEM = (
    _OCI_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)
OCI_CONFIG = {
    "user": "ocid1.user.oc1..aaaaaaaafaultmatrix",
    "fingerprint": "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34",
    "tenancy": "ocid1.tenancy.oc1..aaaaaaaafaultmatrix",
    "region": "us-chicago-1",
    "key_content": OCI_PRIVATE_PEM,
}

# A proxy's error page (nginx's, byte for byte).
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# Binary noise and non-field lines: WHATWG ignores lines whose field it does not know.
GARBAGE = b"\x00\x01\xfe\xffgarbage\x80\x81\r\n\x89PNG\r\n\x1a\n\x00\x00: \xc3\x28 not a field\n<html>\n\n"


# --- the wire samples, framed and parsed independently of sserpent ---------------------------


def split_frames(raw: bytes) -> List[bytes]:
    """``raw`` cut after every blank line (CRLF, LF or CR line ends); the frames concatenate
    back to ``raw``."""
    frames: List[bytes] = []
    start = line_start = i = 0
    while i < len(raw):
        if raw[i] in b"\r\n":
            end = i + 2 if raw[i : i + 2] == b"\r\n" else i + 1
            if i == line_start:
                frames.append(raw[start:end])
                start = end
            line_start = i = end
        else:
            i += 1
    if start < len(raw):
        frames.append(raw[start:])
    assert b"".join(frames) == raw
    return frames


def frame_fields(frame: bytes) -> Tuple[str, Optional[str]]:
    """The event type and data of one frame (``None`` without a data field)."""
    event, data = "message", []
    for line in re.split(r"\r\n|\r|\n", frame.decode("utf-8")):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    return event, "\n".join(data) if data else None


def frame_chunk(frame: bytes) -> Any:
    """The chunk a frame must give, as plain JSON; ``None`` for ``[DONE]``, ``ping`` and
    frames without data. An NDJSON frame (a line holding a JSON object) is its own chunk."""
    if frame.lstrip().startswith(b"{"):
        return json.loads(frame)
    event, data = frame_fields(frame)
    if data is None or data == "[DONE]" or event == "ping":
        return None
    return json.loads(data)


def chunks_of(frames: List[bytes]) -> List[Any]:
    return [c for c in map(frame_chunk, frames) if c is not None]


# --- the providers -----------------------------------------------------------------------------


@dataclass
class Provider:
    name: str
    sample: str
    # The request's path and query, as the client sends it.
    target: str
    # Request headers that carry the credential.
    credentials: Tuple[str, ...]
    # (frame index, bytes, replacement): puts multi-byte characters into a text delta.
    multibyte: Tuple[int, bytes, bytes]
    make: Callable[[str, str, Dict[str, Any]], Any]
    # Sends the request: the opened stream (sync), or an awaitable of it (async).
    call: Callable[[Any], Any]
    acall: Optional[Callable[[Any], Any]] = None
    frames: List[bytes] = field(default_factory=list)
    # NDJSON (Ollama): frames are lines.
    ndjson: bool = False

    def __post_init__(self) -> None:
        if self.ndjson:
            self.frames = (WIRE / f"{self.sample}.ndjson").read_bytes().splitlines(keepends=True)
        else:
            self.frames = split_frames((WIRE / f"{self.sample}.sse").read_bytes())

    @property
    def headers(self) -> Dict[str, str]:
        return {"content-type": "application/x-ndjson"} if self.ndjson else {}

    @property
    def keepalive(self) -> bytes:
        return b"\n" if self.ndjson else b": keep-alive\n\n"

    @property
    def garbage(self) -> bytes:
        return b"\n\r\n \t \n" if self.ndjson else GARBAGE

    def frame(self, event: str, data: str, sep: bytes = b"\n") -> bytes:
        """One frame holding ``data``: an SSE event (of type ``event``), or an NDJSON line."""
        if self.ndjson:
            return data.encode() + sep
        head = f"event: {event}".encode() + sep if event != "message" else b""
        return head + b"data: " + data.encode() + sep + sep

    def data_of(self, frame: bytes) -> Tuple[str, Optional[str]]:
        if self.ndjson:
            return "message", frame.decode("utf-8").rstrip("\r\n")
        return frame_fields(frame)

    @property
    def chunks(self) -> List[Any]:
        return chunks_of(self.frames)

    def multibyte_frames(self) -> Tuple[List[bytes], int]:
        at, old, new = self.multibyte
        frames = list(self.frames)
        if old:
            assert frames[at].count(old) == 1
            frames[at] = frames[at].replace(old, new)
        assert any(b >= 0x80 for b in frames[at]), "the frame has a multi-byte character"
        return frames, at


def _timeouts(opts: Dict[str, Any]) -> Dict[str, Any]:
    return {"timeout": opts["read_timeout"], "max_retries": opts["max_retries"]}


def _openai(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    cls = sserpent.OpenAI if mode == "sync" else sserpent.AsyncOpenAI
    return cls(base_url=url + "/v1", api_key=OPENAI_KEY, **_timeouts(opts))


def _azure(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    cls = sserpent.AzureOpenAI if mode == "sync" else sserpent.AsyncAzureOpenAI
    return cls(azure_endpoint=url, api_version=AZURE_VERSION, azure_deployment="gpt-4o", api_key=AZURE_KEY,
               **_timeouts(opts))


def _anthropic(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    cls = sserpent.Anthropic if mode == "sync" else sserpent.AsyncAnthropic
    return cls(base_url=url, api_key=ANTHROPIC_KEY, **_timeouts(opts))


def _ollama(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    cls = sollama.Client if mode == "sync" else sollama.AsyncClient
    return cls(host=url, **_timeouts(opts))
def _gemini(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    return genai.Client(api_key=GEMINI_KEY, http_options={"base_url": url, "timeout": opts["read_timeout"] * 1000},
                        max_retries=opts["max_retries"])


def _vertex(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    return genai.Client(vertexai=True, project="faultmatrix", location="us-central1",
                        credentials=lambda: "ya29.FAULTMATRIX-token",
                        http_options={"base_url": url, "timeout": opts["read_timeout"] * 1000},
                        max_retries=opts["max_retries"])


def _gemini_call(c: Any) -> Any:
    return c.models.generate_content_stream(model=GEMINI_MODEL, contents="Hello")


def _gemini_acall(c: Any) -> Any:
    return c.aio.models.generate_content_stream(model=GEMINI_MODEL, contents="Hello")


def _gemini_provider(name: str, sample: str, multibyte: Tuple[int, bytes, bytes], vertex: bool = False) -> Provider:
    if vertex:
        target = (f"/v1beta1/projects/faultmatrix/locations/us-central1/publishers/google/models/{GEMINI_MODEL}"
                  ":streamGenerateContent?alt=sse")
        return Provider(name, sample, target, ("authorization",), multibyte, _vertex, _gemini_call, _gemini_acall)
    return Provider(name, sample, f"/v1/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse", ("x-goog-api-key",),
                    multibyte, _gemini, _gemini_call, _gemini_acall)


def _oci(url: str, mode: str, opts: Dict[str, Any]) -> Any:
    return GenerativeAiInference(config=OCI_CONFIG, service_endpoint=url, read_timeout=opts["read_timeout"],
                                 connect_timeout=5.0, max_retries=opts["max_retries"])


PROVIDERS = {
    "openai": Provider(
        "openai", "openai_chat_usage", "/v1/chat/completions", ("authorization",),
        (2, b'"content":"."', '"content":". Zwei — 二つ ✓"'.encode()),
        _openai,
        lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True),
    ),
    "azure": Provider(
        "azure", "azure_chat", f"/openai/deployments/gpt-4o/chat/completions?api-version={AZURE_VERSION}",
        ("api-key",),
        (3, b"", b""),  # the sample's own Japanese text
        _azure,
        lambda c: c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True),
    ),
    "oci": Provider(
        "oci", "oci_chat_generic", "/20231130/actions/chat", ("authorization", "x-content-sha256"),
        (1, b'"text":","', '"text":", — 世界 ✓"'.encode()),
        _oci,
        lambda c: c.chat(OCI_BODY),
        lambda c: c.achat(OCI_BODY),  # one client class for both modes
    ),
    "anthropic": Provider(
        "anthropic", "anthropic_messages", "/v1/messages", ("x-api-key",),
        (3, b'"text":"Let me check"', '"text":"Let me check — 天気 ☀"'.encode()),
        _anthropic,
        lambda c: c.messages.create(model="claude-sonnet-4-20250514", max_tokens=1024, messages=MESSAGES,
                                    stream=True),
    ),
    "openai_reasoning_content": Provider(
        "openai_reasoning_content", "openai_compat_reasoning_content", "/v1/chat/completions", ("authorization",),
        (5, b'"content":"Hello"', '"content":"Hello — 你好 ✓"'.encode()),
        _openai,
        lambda c: c.chat.completions.create(model="deepseek-reasoner", messages=MESSAGES, stream=True),
    ),
    "openai_reasoning": Provider(
        "openai_reasoning", "openai_compat_reasoning", "/v1/chat/completions", ("authorization",),
        (2, b'"reasoning":" two plus"', '"reasoning":" two plus — 二 ✓"'.encode()),
        _openai,
        lambda c: c.chat.completions.create(model="Qwen/Qwen3-8B", messages=MESSAGES, stream=True),
    ),
    "ollama_chat": Provider(
        "ollama_chat", "ollama_chat", "/api/chat", (),
        (5, b"", b""),  # the sample's own em dash
        _ollama,
        lambda c: c.chat(model="qwen3:8b", messages=MESSAGES, stream=True),
        ndjson=True,
    ),
    "ollama_generate": Provider(
        "ollama_generate", "ollama_generate", "/api/generate", (),
        (1, b'"response":" sky"', '"response":" sky — 空 ✓"'.encode()),
        _ollama,
        lambda c: c.generate(model="llama3.2", prompt="Why is the sky blue?", stream=True),
        ndjson=True,
    ),
    # Every Gemini sample long enough for the matrix (more than K frames); the one-frame prompt
    # block and the error sample are in tests/test_providers_gemini.py.
    "gemini": _gemini_provider("gemini", "gemini_text", (2, b'"text": " scattering: air"',
                                                         '"text": " scattering — 散乱 ✓"'.encode())),
    "gemini_tools": _gemini_provider("gemini_tools", "gemini_function_call",
                                     (1, b'"text": " up the weather."', '"text": " up — 天気 ☀"'.encode())),
    "gemini_thinking": _gemini_provider("gemini_thinking", "gemini_thinking",
                                        (2, b'"text": "It is"', '"text": "It is — 四 ✓"'.encode())),
    "gemini_safety": _gemini_provider("gemini_safety", "gemini_safety",
                                      (1, b'"text": " how you"', '"text": " how — 안전 ✓"'.encode())),
    "vertex": _gemini_provider("vertex", "gemini_text", (1, b'"text": " because of Rayleigh"',
                                                         '"text": " because — レイリー ✓"'.encode()), vertex=True),
}


def unwrap(p: Provider, e: BaseException) -> BaseException:
    """For the Ollama client: checks its exception against the core's it chains from, and
    returns that (which the cases check as for every client)."""
    if not p.ndjson:
        return e
    if isinstance(e, sollama.ResponseError):
        cause = e.__cause__
        if isinstance(cause, sserpent.APIStatusError):
            assert e.status_code == cause.status_code
        else:
            assert type(cause) is sserpent.StreamError and e.status_code == -1
        return cause
    if isinstance(e, sollama.ConnectError):
        assert isinstance(e, ConnectionError) and type(e.__cause__) is sserpent.APIConnectionError
        return e.__cause__
    # Everything else is sserpent's own, unwrapped.
    assert not isinstance(e, (sserpent.APIStatusError, sserpent.StreamError))
    assert type(e) is not sserpent.APIConnectionError
    return e


# --- running one stream, bounded ---------------------------------------------------------------


@dataclass
class Outcome:
    chunks: List[Any] = field(default_factory=list)
    exc: Optional[BaseException] = None
    # Where the exception was raised: "open" (the create/chat call) or "iteration".
    raised_at: Optional[str] = None
    stream: Any = None


def _bounded_in_thread(fn: Callable[[], Outcome]) -> Outcome:
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box["out"] = fn()
        except BaseException as e:  # pragma: no cover - reported below
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(HANG_LIMIT)
    if t.is_alive():
        pytest.fail(f"the stream hung for {HANG_LIMIT}s")
    if "error" in box:
        raise box["error"]
    return box["out"]


def run(p: Provider, mode: str, url: str, *, read_timeout: float = 10.0, max_retries: int = 0) -> Outcome:
    """Opens the provider's stream through its client and reads it to its end, in ``mode``."""
    opts = {"read_timeout": read_timeout, "max_retries": max_retries}
    if mode == "sync":

        def sync() -> Outcome:
            out = Outcome()
            client = p.make(url, mode, opts)
            try:
                out.stream = p.call(client)
            except Exception as e:
                out.exc, out.raised_at = unwrap(p, e), "open"
                return out
            try:
                for c in out.stream:
                    out.chunks.append(c.to_dict())
            except Exception as e:
                out.exc, out.raised_at = unwrap(p, e), "iteration"
            return out

        return _bounded_in_thread(sync)

    async def consume() -> Outcome:
        out = Outcome()
        client = p.make(url, mode, opts)
        try:
            out.stream = await (p.acall or p.call)(client)
        except Exception as e:
            out.exc, out.raised_at = unwrap(p, e), "open"
            return out
        try:
            async for c in out.stream:
                out.chunks.append(c.to_dict())
        except Exception as e:
            out.exc, out.raised_at = unwrap(p, e), "iteration"
        return out

    async def bounded() -> Outcome:
        try:
            return await asyncio.wait_for(consume(), HANG_LIMIT)
        except asyncio.TimeoutError:
            pytest.fail(f"the stream hung for {HANG_LIMIT}s")

    return run_async(bounded, mode)


def closed(server: MockServer, request_index: int = -1) -> Any:
    """The record of the connection that carried the request, once closed (fails if it stays open)."""
    conn_id = server.requests[request_index].connection_id
    assert server.wait_closed(conn_id, timeout=5), "the connection was left open"
    return next(c for c in server.connections if c.id == conn_id)


def assert_target_named(p: Provider, server: MockServer, exc: BaseException) -> None:
    path = p.target.split("?")[0]
    assert f"POST {server.url}{path}" in str(exc), str(exc)


def assert_signed(p: Provider, server: MockServer) -> None:
    if p.name == "oci":
        assert all(r.oci_signature_valid for r in server.requests)


# --- the cases -----------------------------------------------------------------------------------
# Each takes (provider, mode, server).


def case_reset_before_headers(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(close_before_headers=True, reset=True)
    out = run(p, mode, server.url)
    assert out.chunks == []
    assert type(out.exc) is sserpent.APIConnectionError and out.raised_at == "open"
    assert "error sending the request" in str(out.exc)
    assert_target_named(p, server, out.exc)
    assert len(server.requests) == 1
    assert closed(server).closed_by == "server"


def case_reset_before_headers_retried(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(close_before_headers=True, reset=True)
    server.enqueue(events=p.frames)
    out = run(p, mode, server.url, max_retries=1)
    assert out.exc is None
    assert out.chunks == p.chunks
    assert out.stream.metrics.attempts == 2
    assert len(server.requests) == 2
    for r in server.requests:
        assert all(r.headers.get(h) for h in p.credentials)
    assert_signed(p, server)


def case_reset_after_headers(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(events=p.frames, cut_after=0, reset=True)
    out = run(p, mode, server.url)
    assert out.stream is not None and out.stream.status == 200  # the call returned the opened stream
    assert out.chunks == []
    assert type(out.exc) is sserpent.IncompleteStreamError and out.raised_at == "iteration"
    assert "the connection broke after 0 complete chunks" in str(out.exc)
    assert_target_named(p, server, out.exc)
    assert len(server.requests) == 1  # never retried once the response started
    assert closed(server).closed_by == "server"


def _cut_between_events(p: Provider, mode: str, server: MockServer, reset: bool) -> None:
    server.enqueue(events=p.frames, cut_after=K, reset=reset)
    out = run(p, mode, server.url)
    before = chunks_of(p.frames[:K])
    assert before and out.chunks == before
    assert type(out.exc) is sserpent.IncompleteStreamError and out.raised_at == "iteration"
    assert f"the connection broke after {len(before)} complete chunks" in str(out.exc)
    assert_target_named(p, server, out.exc)
    assert len(server.requests) == 1
    assert closed(server).closed_by == "server"


def case_reset_between_events(p: Provider, mode: str, server: MockServer) -> None:
    _cut_between_events(p, mode, server, reset=True)


def case_closed_between_events(p: Provider, mode: str, server: MockServer) -> None:
    """A FIN, not a reset: the chunked body lacks its last chunk (for OCI, whose streams end
    at the end of the body, this is what tells a cut from the end)."""
    _cut_between_events(p, mode, server, reset=False)


def case_cut_mid_event(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(events=p.frames, cut_after=K, cut_mid_event=True)
    out = run(p, mode, server.url)
    before = chunks_of(p.frames[:K])
    assert out.chunks == before
    assert type(out.exc) is sserpent.IncompleteStreamError and out.raised_at == "iteration"
    assert f"the connection broke after {len(before)} complete chunks" in str(out.exc)
    assert_target_named(p, server, out.exc)
    assert closed(server).closed_by == "server"


def case_cut_mid_multibyte_character(p: Provider, mode: str, server: MockServer) -> None:
    frames, at = p.multibyte_frames()
    server.enqueue(events=frames, cut_after=at, cut_mid_event=True)
    out = run(p, mode, server.url)
    before = chunks_of(frames[:at])
    assert out.chunks == before
    assert "\ufffd" not in json.dumps(out.chunks, ensure_ascii=False)
    assert type(out.exc) is sserpent.IncompleteStreamError and out.raised_at == "iteration"
    assert f"after {len(before)} complete chunks" in str(out.exc)
    assert closed(server).closed_by == "server"
    # The same frames uncut: the characters arrive whole.
    server.enqueue(events=frames)
    whole = run(p, mode, server.url)
    assert whole.exc is None and whole.chunks == chunks_of(frames)


def case_stall_past_read_timeout(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(events=p.frames, stall_after=K)
    out = run(p, mode, server.url, read_timeout=0.3)
    before = chunks_of(p.frames[:K])
    assert out.chunks == before
    assert type(out.exc) is sserpent.APITimeoutError and out.raised_at == "iteration"
    assert f"no data received for 0.300s (read_timeout) after {len(before)} chunks" in str(out.exc)
    assert_target_named(p, server, out.exc)
    assert len(server.requests) == 1
    assert closed(server).closed_by == "client"


def case_stall_with_keepalives(p: Provider, mode: str, server: MockServer) -> None:
    """Keep-alive comments every 0.05 s through a 1 s stall: each restarts the 0.4 s read
    timeout, so the stream goes on and ends normally."""
    server.enqueue(events=p.frames, stall_after=K, keepalive=0.05, stall_for=1.0, headers=p.headers)
    out = run(p, mode, server.url, read_timeout=0.4)
    assert out.exc is None
    assert out.chunks == p.chunks
    # The stall did happen: 19 keep-alives (one every 0.05 s of the 1 s) went out with the body.
    # (The mock counts a write once it returned, which may be just after the client read it.)
    want = len(b"".join(p.frames)) + 19 * len(p.keepalive)
    deadline = time.monotonic() + 5
    while server.connections[0].bytes_sent < want and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections[0].bytes_sent >= want


def case_garbage_bytes(p: Provider, mode: str, server: MockServer) -> None:
    """Lines that are no SSE field (binary noise included) are ignored, as WHATWG says; NDJSON
    skips blank lines."""
    server.enqueue(events=[*p.frames[:K], p.garbage, *p.frames[K:]])
    out = run(p, mode, server.url)
    assert out.exc is None
    assert out.chunks == p.chunks


def case_non_sse_body(p: Provider, mode: str, server: MockServer) -> None:
    """A 200 whose body has no event at all (a captive portal's page)."""
    page = b"<html><head><title>Sign in</title></head><body>Wi-Fi login</body></html>\n"
    server.enqueue(body=page, headers={"content-type": "text/html"})
    out = run(p, mode, server.url)
    assert out.chunks == []
    if p.ndjson:  # the Ollama client reads NDJSON whatever the type: a line that is no JSON
        assert type(out.exc) is sserpent.ChunkDecodeError and out.raised_at == "iteration"
        assert out.exc.data == page.decode().rstrip("\n")
        return
    assert type(out.exc) is sserpent.IncompleteStreamError and out.raised_at == "iteration"
    assert "the response body ended before its first event" in str(out.exc)


def case_invalid_json(p: Provider, mode: str, server: MockServer) -> None:
    frames = list(p.frames)
    event, data = p.data_of(frames[K])
    assert data is not None and data.endswith("}")
    bad = data[:-1]  # the JSON object lacks its closing brace
    sep = b"\r\n" if frames[K].endswith(b"\r\n") else b"\n"
    frames[K] = p.frame(event, bad, sep)
    # The rest of the body never comes: the client must close the connection itself.
    server.enqueue(events=frames, stall_after=K + 1)
    out = run(p, mode, server.url)
    assert out.chunks == chunks_of(p.frames[:K])
    assert type(out.exc) is sserpent.ChunkDecodeError and out.raised_at == "iteration"
    assert isinstance(out.exc, ValueError)
    assert str(out.exc).startswith("invalid JSON in data event (")
    assert json.dumps(bad[:20])[1:-1] in str(out.exc)
    assert out.exc.data == bad
    assert out.exc.position == len(bad.encode())
    assert out.exc.event.data == bad and out.exc.event.event == event
    assert closed(server).closed_by == "client"


def case_event_over_size_limit(p: Provider, mode: str, server: MockServer) -> None:
    frames = list(p.frames)
    event, _ = p.data_of(frames[K])
    frames[K] = p.frame(event, '{"pad":"' + "x" * MAX_EVENT_SIZE + '"}')
    server.enqueue(events=frames, stall_after=K + 1)
    out = run(p, mode, server.url)
    assert out.chunks == chunks_of(p.frames[:K])
    assert type(out.exc) is sserpent.SSEError and out.raised_at == "iteration"
    assert out.exc.limit == MAX_EVENT_SIZE
    assert "max_event_size" in str(out.exc) and str(MAX_EVENT_SIZE) in str(out.exc)
    assert closed(server).closed_by == "client"


def gzip_pieces(frames: List[bytes]) -> List[bytes]:
    """The frames gzip-compressed, one flushed piece per frame, the gzip trailer last."""
    z = zlib.compressobj(wbits=31)
    pieces = [z.compress(f) + z.flush(zlib.Z_SYNC_FLUSH) for f in frames]
    pieces.append(z.flush())
    assert zlib.decompress(b"".join(pieces), wbits=31) == b"".join(frames)
    return pieces


def case_gzip_intact(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(events=gzip_pieces(p.frames), headers={"content-encoding": "gzip"})
    out = run(p, mode, server.url)
    assert out.exc is None
    assert out.chunks == p.chunks
    assert "gzip" in server.requests[0].headers["accept-encoding"]


def case_gzip_cut(p: Provider, mode: str, server: MockServer) -> None:
    """The connection closes in the middle of a gzip body."""
    server.enqueue(events=gzip_pieces(p.frames), headers={"content-encoding": "gzip"}, cut_after=K)
    out = run(p, mode, server.url)
    before = chunks_of(p.frames[:K])
    assert out.chunks == before
    assert type(out.exc) is sserpent.IncompleteStreamError and out.raised_at == "iteration"
    assert f"the connection broke after {len(before)} complete chunks" in str(out.exc)
    assert closed(server).closed_by == "server"


def case_gzip_truncated(p: Provider, mode: str, server: MockServer) -> None:
    """The HTTP body ends properly, but the gzip stream in it stops short of its end."""
    server.enqueue(events=gzip_pieces(p.frames)[:K], headers={"content-encoding": "gzip"})
    out = run(p, mode, server.url)
    before = chunks_of(p.frames[:K])
    assert out.chunks == before
    assert type(out.exc) is sserpent.ContentDecodingError and out.raised_at == "iteration"
    assert isinstance(out.exc, sserpent.IncompleteStreamError)
    assert str(out.exc).startswith(
        f"the gzip-encoded response body could not be decoded after {len(before)} complete chunks: "
        "truncated: the gzip stream stops before its end"
    )
    assert_target_named(p, server, out.exc)


def case_gzip_not_gzip(p: Provider, mode: str, server: MockServer) -> None:
    """``Content-Encoding: gzip`` on a body that is not gzip."""
    server.enqueue(events=p.frames, headers={"content-encoding": "gzip"})
    out = run(p, mode, server.url)
    assert out.chunks == []
    assert type(out.exc) is sserpent.ContentDecodingError and out.raised_at == "iteration"
    assert str(out.exc).startswith(
        "the gzip-encoded response body could not be decoded after 0 complete chunks: invalid gzip header"
    )
    assert_target_named(p, server, out.exc)


def case_gzip_corrupt_mid_stream(p: Provider, mode: str, server: MockServer) -> None:
    """Junk in place of the rest of a gzip body, arriving with the intact part in one read:
    every chunk decoded before the junk is still delivered."""
    junk = b"\x00junk\xff\xff\x13\x37 not deflate"
    server.enqueue(events=[b"".join(gzip_pieces(p.frames)[:K]) + junk], headers={"content-encoding": "gzip"})
    out = run(p, mode, server.url)
    before = chunks_of(p.frames[:K])
    assert out.chunks == before
    assert type(out.exc) is sserpent.ContentDecodingError and out.raised_at == "iteration"
    assert str(out.exc).startswith(
        f"the gzip-encoded response body could not be decoded after {len(before)} complete chunks: "
        "corrupt gzip data"
    )


def case_html_error_502(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(status=502, body=NGINX_502, headers={"content-type": "text/html"})
    out = run(p, mode, server.url)
    assert out.chunks == []
    e = out.exc
    assert type(e) is sserpent.InternalServerError and out.raised_at == "open"
    assert e.status_code == 502
    assert e.body == NGINX_502
    assert e.headers["content-type"] == "text/html"
    assert e.request_id is not None and e.request_id == e.headers["x-request-id"]
    assert str(e) == f"HTTP 502 from POST {server.url}{p.target.split('?')[0]}: 502 Bad Gateway"
    assert len(server.requests) == 1


def case_rate_limited_then_success(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(status=429, headers={"retry-after": "0"})
    server.enqueue(events=p.frames)
    out = run(p, mode, server.url, max_retries=2)
    assert out.exc is None
    assert out.chunks == p.chunks
    assert out.stream.metrics.attempts == 2
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body
    for r in server.requests:
        assert all(r.headers.get(h) for h in p.credentials)
    assert_signed(p, server)


def case_rate_limited_retries_exhausted(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(status=429, headers={"retry-after": "0"}, times=3)
    out = run(p, mode, server.url, max_retries=2)
    e = out.exc
    assert type(e) is sserpent.RateLimitError and out.raised_at == "open"
    assert e.status_code == 429
    assert e.headers["retry-after"] == "0"
    assert e.request_id == e.headers["x-request-id"]
    assert isinstance(e.body, dict) and e.body["error"]["message"] in str(e)
    assert str(e).startswith(f"HTTP 429 from POST {server.url}")
    assert len(server.requests) == 3


def case_redirect_same_origin(p: Provider, mode: str, server: MockServer) -> None:
    server.enqueue(status=307, headers={"location": p.target}, body=b"")
    server.enqueue(events=p.frames)
    out = run(p, mode, server.url)
    assert out.exc is None
    assert out.chunks == p.chunks
    first, second = server.requests
    assert (second.method, second.path, second.query) == ("POST", first.path, first.query)
    assert second.body == first.body
    for h in p.credentials:
        assert second.headers[h] == first.headers[h]
    assert_signed(p, server)


def case_redirect_cross_origin(p: Provider, mode: str, server: MockServer) -> None:
    with MockServer() as other:
        other.enqueue(events=p.frames)
        server.enqueue(status=307, headers={"location": other.url + p.target}, body=b"")
        out = run(p, mode, server.url)
        assert out.exc is None
        assert out.chunks == p.chunks
        (first,) = server.requests
        (moved,) = other.requests
    assert all(first.headers.get(h) for h in p.credentials)
    for h in p.credentials:
        assert h not in moved.headers, f"{h} sent to another origin"
    assert (moved.method, moved.body) == ("POST", first.body)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Any:
    oci = request.node.callspec.params["provider"] == "oci"
    with MockServer(oci_public_key=OCI_PUBLIC_PEM if oci else None) as s:
        yield s


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_fault(provider: str, mode: str, case: str, server: MockServer) -> None:
    CASES[case](PROVIDERS[provider], mode, server)


def test_the_samples_frame_as_expected() -> None:
    """The helpers agree with the samples' expected results (a check of the test itself)."""
    for p in PROVIDERS.values():
        expected = json.loads((WIRE / f"{p.sample}.expected.json").read_text(encoding="utf-8"))
        text = []
        for c in p.chunks:
            if p.ndjson:
                text.append(c["message"]["content"] if "message" in c else c["response"])
            elif p.name.startswith(("openai", "azure")):
                text += [ch["delta"].get("content") or "" for ch in c["choices"]]
            elif p.name == "oci":
                text += [part["text"] for part in c.get("message", {}).get("content", [])]
            elif p.name.startswith(("gemini", "vertex")):
                parts = c["candidates"][0]["content"]["parts"]
                text += [part.get("text", "") for part in parts if not part.get("thought")]
            elif c["type"] == "content_block_delta" and c["delta"]["type"] == "text_delta":
                text.append(c["delta"]["text"])
        assert "".join(text) == expected["text"], p.name
        assert len(p.chunks) > K
