from os import PathLike
from types import TracebackType
from typing import Any, Callable, Iterable, Iterator, List, Literal, Mapping, Optional, Tuple, Union, final

_Bytes = Union[bytes, bytearray, memoryview]
# pydantic's include/exclude: keys (or list indices), or a dict of them to nested specs.
_IncEx = Union[set[int], set[str], Mapping[int, Any], Mapping[str, Any]]

@final
class Event:
    """One server-sent event, as dispatched by the WHATWG rules."""

    def __new__(cls, data: str = ..., event: str = ..., id: str = ...) -> Event: ...
    @property
    def event(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def id(self) -> str: ...
    def __copy__(self) -> Event: ...
    def __deepcopy__(self, memo: Any, /) -> Event: ...
    def json(self) -> Any:
        """Parse ``data`` as JSON: objects become :class:`Chunk`, arrays lists."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class Decoder:
    """Incremental server-sent events decoder (WHATWG "Interpreting an event stream")."""

    def __new__(cls, max_event_size: int = ...) -> Decoder: ...
    def feed(self, data: _Bytes) -> list[Event]: ...
    def close(self) -> list[Event]: ...
    @property
    def last_event_id(self) -> str: ...
    @property
    def retry(self) -> Optional[int]: ...
    @property
    def max_event_size(self) -> int: ...

@final
class Chunk:
    """A JSON object decoded in Rust, read like the openai SDK's models or like a dict."""

    def __getattr__(self, name: str) -> Any: ...
    def __getitem__(self, key: str, /) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]
    def get(self, key: str, default: Any = None) -> Any: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[Any]: ...
    def items(self) -> list[tuple[str, Any]]: ...
    def to_dict(
        self,
        *,
        mode: str = "python",
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> dict[str, Any]: ...
    def to_json(
        self,
        *,
        indent: int | None = ...,
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        warnings: bool = True,
    ) -> str: ...
    def __copy__(self) -> Chunk: ...
    def __deepcopy__(self, memo: Any, /) -> Chunk: ...
    def model_dump(
        self,
        *,
        mode: str = "python",
        include: _IncEx | None = None,
        exclude: _IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | str | None = None,
        fallback: Any | None = None,
        serialize_as_any: bool = False,
    ) -> dict[str, Any]: ...
    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        ensure_ascii: bool = False,
        include: _IncEx | None = None,
        exclude: _IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | str | None = None,
        fallback: Any | None = None,
        serialize_as_any: bool = False,
    ) -> str: ...
    def to_json_dict(self) -> dict[str, Any]:
        """google-genai's ``to_json_dict``: ``model_dump(exclude_none=True)`` (for a Gemini
        response, under the SDK's snake_case attribute names)."""

@final
class ChunkIter:
    """Iterator over the chunks (or events) of a byte stream; see :func:`sserpent.iter_chunks`."""

    def __iter__(self) -> ChunkIter: ...
    def __next__(self) -> Any: ...

@final
class ChunkParser:
    """Push parser behind the async adapters: bytes in, ready items out."""

    def __new__(cls, chunks: bool = True, max_event_size: int = ...,
                framing: Optional[Literal["sse", "ndjson"]] = None) -> ChunkParser: ...
    def feed(self, data: _Bytes) -> list[Any]: ...
    def finish(self) -> list[Any]: ...
    @property
    def done(self) -> bool: ...

def iter_events(source: Iterable[_Bytes], *, max_event_size: int = ...,
                framing: Optional[Literal["sse", "ndjson"]] = None) -> ChunkIter: ...
def iter_chunks(source: Iterable[_Bytes], *, max_event_size: int = ...,
                framing: Optional[Literal["sse", "ndjson"]] = None) -> ChunkIter: ...

_Pairs = Union[Mapping[str, Any], Iterable[tuple[str, Any]], None]

@final
class Client:
    """An HTTP client for SSE streams: one connection pool on sserpent's shared tokio runtime.

    Timeouts in seconds: ``connect_timeout`` (5), ``read_timeout`` (600; restarted by every
    byte received, keep-alive comments included; also bounds the wait for headers once
    connected), ``timeout`` (None: a deadline for the whole stream, retries included),
    ``pool_idle_timeout`` (90: idle pooled connections, and HTTP/2 pools past the first, are
    closed after it). Numbers must be positive and finite (timeouts at most 1e9 s); bools
    are refused, and the error names the argument.

    Protocols, as in httpx: HTTP/1.1 only (the default); ``http2=True`` also, HTTP/2 where TLS
    negotiates it; ``http1=False, http2=True`` HTTP/2 only, with prior knowledge on ``http://``
    URLs (h2c). Over HTTP/2 streams share connections, at most ``http2_max_streams`` (100)
    open at once on each: servers cap the streams of a connection, and a stream past the cap
    would wait for another to end.
    """

    def __new__(
        cls,
        base_url: Optional[str] = None,
        headers: _Pairs = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        timeout: Optional[float] = None,
        max_retries: int = 2,
        http2: bool = False,
        proxy: Optional[str] = None,
        verify: Union[bool, str, PathLike[str], None] = None,
        http1: bool = True,
        http2_max_streams: int = 100,
        pool_idle_timeout: float = 90.0,
    ) -> Client: ...
    def stream(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: Union[bytes, str, None] = None,
        headers: _Pairs = None,
        params: _Pairs = None,
        max_event_size: int = ...,
        terminator: Optional[
            Literal["done", "message_stop", "response.completed", "eof", "done_true", "finish_reason"]
        ] = None,
        read_timeout: Optional[float] = None,
        framing: Optional[Literal["sse", "ndjson"]] = None,
        require_done: bool = True,
    ) -> Stream:
        """``terminator`` fixes how the stream must end instead of learning it from its first
        events: ``"done"`` (``data: [DONE]``), ``"message_stop"``, ``"response.completed"``,
        ``"eof"`` (the body may just end, as OCI's streams do; a body without a
        single event is still incomplete), ``"done_true"`` (a line with ``"done": true``,
        Ollama's), or ``"finish_reason"`` (Gemini: the body may end once a candidate
        carried a ``finishReason`` or the prompt was blocked). ``read_timeout`` (seconds)
        replaces the client's read-idle timeout for this request. ``framing``: ``"sse"`` or
        ``"ndjson"`` (one JSON document a line); by default as the response's
        ``Content-Type`` says (``application/x-ndjson``, ``application/ndjson``,
        ``application/jsonl``: NDJSON). ``require_done=False``:
        a stream owing ``data: [DONE]`` may end without it."""
    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: Union[bytes, str, None] = None,
        headers: _Pairs = None,
        params: _Pairs = None,
        max_size: int = ...,
        read_timeout: Optional[float] = None,
    ) -> Any:
        """A non-streaming request: the JSON response body as chunk objects."""
    def arequest(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: Union[bytes, str, None] = None,
        headers: _Pairs = None,
        params: _Pairs = None,
        max_size: int = ...,
        read_timeout: Optional[float] = None,
    ) -> Any:
        """Async :meth:`request` (await it)."""
    def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: Union[bytes, str, None] = None,
        headers: _Pairs = None,
        params: _Pairs = None,
        max_size: int = ...,
        read_timeout: Optional[float] = None,
    ) -> Stream:
        """A non-streaming request as a :class:`Stream`: ``open()`` for its status and headers,
        then ``read()`` / ``await aread()`` for the JSON body as chunk objects."""
    @property
    def base_url(self) -> Optional[str]: ...

@final
class Stream:
    """A streaming response: an iterator and an async iterator of chunk objects."""

    def __iter__(self) -> Stream: ...
    def __next__(self) -> Any: ...
    def __aiter__(self) -> Stream: ...
    def __anext__(self) -> Any: ...
    def open(self) -> Stream: ...
    def aopen(self) -> Any: ...
    def read(self) -> Any: ...
    def aread(self) -> Any: ...
    def events(self) -> StreamView: ...
    def text(self) -> StreamView: ...
    def reasoning_text(self) -> StreamView:
        """The reasoning deltas as ``str``: ``delta.reasoning_content`` / ``delta.reasoning``
        (OpenAI-compatible servers), Ollama's ``thinking``, Anthropic's thinking blocks."""
    def final(self) -> Any:
        """Reads what is left; returns the accumulated result (text, role, finish_reason,
        refusal, reasoning, tool_calls, usage, choices), the same names for every provider."""
    def afinal(self) -> Any: ...
    def sse(
        self,
        transform: Optional[Callable[[Any], Any]] = None,
        *,
        ping: Optional[float] = None,
        terminator: Optional[str] = ...,
    ) -> SseIterator:
        """SSE bytes for ``StreamingResponse``: upstream events unchanged, or ``transform(chunk)``
        re-encoded (dict/list as JSON, str as data, Event, bytes, None to drop)."""
    def display(self) -> Any:
        """Renders the text live in a Jupyter output cell."""
    def close(self) -> None: ...
    def _on_end(self, callback: Callable[[dict[str, Any]], Any], with_text: bool = False) -> None:
        """Internal (telemetry, logging): ``callback(record)`` once when the stream ends, fails,
        is closed or dropped; times in ``record`` are Unix nanoseconds from the Rust clock."""
    def aclose(self) -> Any: ...
    def __enter__(self) -> Stream: ...
    def __exit__(
        self,
        a: Optional[type[BaseException]],
        b: Optional[BaseException],
        c: Optional[TracebackType],
    ) -> bool: ...
    def __aenter__(self) -> Any: ...
    def __aexit__(
        self,
        a: Optional[type[BaseException]],
        b: Optional[BaseException],
        c: Optional[TracebackType],
    ) -> Any: ...
    @property
    def status(self) -> Optional[int]: ...
    @property
    def headers(self) -> Optional[Headers]: ...
    @property
    def http_version(self) -> Optional[str]:
        """The response's HTTP version (``"HTTP/1.1"``, ``"HTTP/2"``), once the headers arrived."""
    @property
    def is_closed(self) -> bool:
        """Whether the stream is done with: read to its end (a body read whole, or every
        chunk taken), failed, or closed. ``False`` before the request is sent, and while
        chunks are left to read even if the connection already delivered them all."""
    @property
    def request_id(self) -> Optional[str]: ...
    @property
    def metrics(self) -> StreamMetrics: ...
    @property
    def url(self) -> str: ...

@final
class SseIterator:
    """``stream.sse()``: SSE bytes, sync and async iterable."""

    def __iter__(self) -> SseIterator: ...
    def __next__(self) -> bytes: ...
    def __aiter__(self) -> SseIterator: ...
    def __anext__(self) -> Any: ...
    def close(self) -> None: ...
    def aclose(self) -> Any: ...

def _clock_ns() -> int:
    """Now in Unix nanoseconds, on the clock the stream stamps use."""

def _live_tasks() -> int:
    """Reader tasks alive in this process (leak checks)."""

def _released_waiting() -> int:
    """Stream documents waiting to be freed on a tokio thread (leak checks)."""

def _doc_refs(chunk: Chunk) -> Tuple[int, int]:
    """How many chunk objects hold ``chunk``'s document, and its ``Arc`` references: the holders'
    one and any other (tests)."""

def _stop_iteration_reused() -> Tuple[bool, int, int]:
    """Whether a ready chunk's ``StopIteration`` is one object raised again (CPython 3.12 and 3.13),
    that object's address (0 when none), and how many were made (tests)."""

def _fast_alloc() -> List[Tuple[str, Optional[bool]]]:
    """Per class: whether its objects are made directly rather than through pyo3's
    constructor (``None`` before the first one)."""

def _async_wake(event_loop: Any) -> Optional[Literal["socketpair", "threadsafe"]]:
    """How tokio threads wake ``event_loop``: ``"socketpair"`` or ``"threadsafe"``
    (``SSERPENT_ASYNC_WAKE``); None before the first async wait on it."""

def sse_encode(
    data: Any, event: Optional[str] = None, id: Optional[str] = None, retry: Optional[int] = None
) -> bytes:
    """Encodes one server-sent event (multi-line data split; no CR/LF injection via event or id)."""

@final
class StreamView:
    """``stream.events()`` (Event objects) or ``stream.text()`` (str deltas)."""

    def __iter__(self) -> StreamView: ...
    def __next__(self) -> Any: ...
    def __aiter__(self) -> StreamView: ...
    def __anext__(self) -> Any: ...

@final
class Headers:
    """Response headers with case-insensitive lookup."""

    def __getitem__(self, key: str, /) -> str: ...
    def get(self, key: str, default: Optional[str] = None) -> Optional[str]: ...
    def get_list(self, key: str) -> list[str]: ...
    def __contains__(self, key: str, /) -> bool: ...  # type: ignore[override]
    def keys(self) -> list[str]: ...
    def items(self) -> list[tuple[str, str]]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...

@final
class StreamMetrics:
    """Timings (seconds from the request start) and counts, taken in Rust as bytes arrive."""

    @property
    def time_to_headers(self) -> Optional[float]: ...
    @property
    def time_to_first_event(self) -> Optional[float]: ...
    @property
    def time_to_first_token(self) -> Optional[float]: ...
    @property
    def chunks(self) -> int: ...
    @property
    def bytes_received(self) -> int: ...
    @property
    def duration(self) -> Optional[float]: ...
    @property
    def gap_p50(self) -> Optional[float]: ...
    @property
    def gap_p99(self) -> Optional[float]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def chunks_per_second(self) -> Optional[float]: ...
    def to_dict(self) -> dict[str, Any]: ...


# --- OCI request signing (src/oci.rs, src/py/oci.rs) ---

def oci_sign(
    method: str,
    url: str,
    headers: _Pairs,
    body: Optional[bytes],
    key_id: str,
    private_key_pem: str,
    date: Optional[str] = None,
) -> dict[str, str]:
    """Sign a request by OCI's HTTP Signature scheme (``rsa-sha256``); return the headers to add:
    ``date``, ``host``, ``content-type``, for POST/PUT/PATCH ``content-length`` and
    ``x-content-sha256``, then ``authorization``. ``key_id``: ``TENANCY/USER/FINGERPRINT`` or
    ``ST$<token>``; ``private_key_pem``: an unencrypted RSA key, PKCS#1 or PKCS#8."""

# --- mock server (src/mock) ---

@final
class MockServer:
    """An embedded mock LLM server on its own threads (see :mod:`sserpent.testing`)."""

    def __new__(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        oci_public_key: str | None = None,
        http2_max_concurrent_streams: int | None = None,
    ) -> MockServer:
        """``http2_max_concurrent_streams`` caps the streams an HTTP/2 connection may have open
        at once, as real servers do (``SETTINGS_MAX_CONCURRENT_STREAMS``; None: 2**20)."""
    def require_oci_signature(self, public_key_pem: str | None) -> None:
        """Require OCI request signatures on the OCI paths, verified with this RSA public key
        (PEM); ``None`` stops checking. Failing requests get 401 ``NotAuthenticated``."""
    @property
    def url(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    def enqueue(
        self,
        *,
        events: Iterable[Any] | None = None,
        sse: _Bytes | str | None = None,
        sse_file: str | PathLike[str] | None = None,
        json: Any = None,
        body: _Bytes | str | None = None,
        status: int = 200,
        headers: Mapping[str, object] | Iterable[tuple[str, object]] | None = None,
        path: str | None = None,
        times: int = 1,
        delay: float | None = None,
        headers_delay: float | None = None,
        cut_after: int | None = None,
        cut_mid_event: bool = False,
        reset: bool = False,
        stall_after: int | None = None,
        keepalive: float | None = None,
        stall_for: float | None = None,
        close_before_headers: bool = False,
    ) -> None: ...
    @property
    def requests(self) -> list[MockRequest]: ...
    @property
    def connections(self) -> list[MockConnection]: ...
    def wait_closed(self, connection_id: int | None = None, timeout: float | None = 5.0) -> bool: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> MockServer: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

@final
class MockRequest:
    """One request the mock server received."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def connection_id(self) -> int: ...
    @property
    def received_at(self) -> float: ...
    @property
    def oci_signature_valid(self) -> bool | None: ...
    @property
    def oci_signature_error(self) -> str | None: ...
    @property
    def oci_key_id(self) -> str | None: ...
    def json(self) -> Any: ...

@final
class MockConnection:
    """A snapshot of one connection's record. Over HTTP/2 every stream is recorded as a
    connection of its own (``http_version == "HTTP/2"``): a client cancels one response by
    resetting its stream; the TCP connection carrying the streams is not recorded."""

    @property
    def id(self) -> int: ...
    @property
    def peer(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def open(self) -> bool: ...
    @property
    def closed_by(self) -> str | None: ...
    @property
    def opened_at(self) -> float: ...
    @property
    def closed_at(self) -> float | None: ...
    @property
    def requests(self) -> int: ...
    @property
    def bytes_sent(self) -> int: ...

@final
class _MessageState:
    """The snapshot behind ``Anthropic.messages.stream()``, fed raw event chunks."""

    def __new__(cls) -> _MessageState: ...
    def push(self, event: Any) -> list[Any]: ...
    def block_str(self, index: int, kind: str, length: int) -> str: ...
    @property
    def started(self) -> bool: ...
    @property
    def stopped(self) -> bool: ...
    def snapshot(self) -> Optional[Chunk]: ...

@final
class _ChatState:
    """The state behind ``chat.completions.stream()`` (the openai SDK's
    ``ChatCompletionStreamState``), fed the chunks of a chat stream."""

    def __new__(
        cls,
        *,
        rich: bool,
        strict_tools: list[str],
        parseable: bool,
        finish_error: Callable[[str, Optional[str]], BaseException],
        parse_content: Optional[Callable[[str], Any]] = None,
        parse_arguments: Optional[Callable[[str, str], Any]] = None,
    ) -> _ChatState: ...
    def push(self, chunk: Any) -> list[ChatCompletionStreamEvent]: ...
    def snapshot(self) -> Optional[Chunk]: ...
    def snapshot_json(self) -> Optional[str]: ...

@final
class _ChatEvents:
    """The events of a sync ``chat.completions.stream()``, read in Rust."""

    def __new__(cls, stream: Stream, state: _ChatState) -> _ChatEvents: ...
    def __iter__(self) -> _ChatEvents: ...
    def __next__(self) -> ChatCompletionStreamEvent: ...

@final
class ChatCompletionStreamEvent:
    """One event of ``chat.completions.stream()``: ``type`` and the fields of the openai SDK's
    event of that type (the others raise ``AttributeError``)."""

    @property
    def type(self) -> str: ...
    @property
    def chunk(self) -> Chunk: ...
    @property
    def snapshot(self) -> Any: ...
    @property
    def delta(self) -> str: ...
    @property
    def parsed(self) -> Any: ...
    @property
    def content(self) -> Any: ...
    @property
    def refusal(self) -> Any: ...
    @property
    def name(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def arguments(self) -> str: ...
    @property
    def parsed_arguments(self) -> Any: ...
    @property
    def arguments_delta(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
