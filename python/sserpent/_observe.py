"""The one hook the provider clients call per request: telemetry (when
:func:`sserpent.instrument` is on) and the ``sserpent`` logger.

``begin()`` returns ``None`` when neither wants the request, and then the caller
takes its plain path. Otherwise it returns a :class:`Call`: the caller sets it as
the stream's end hook (``stream._on_end(call)``), which the Rust side calls once,
when the stream ends, fails, is closed, cancelled or dropped, with a dict of what it
recorded (times in Unix nanoseconds from the Rust clock that stamps each chunk as
its bytes arrive). Nothing runs in Python per chunk.

No opentelemetry import here: the tracer and meter live in ``_otel`` (loaded by
``instrument()``); this module only holds the state it installed.
"""

from __future__ import annotations

import logging
from typing import Any, MutableMapping, Optional, Union
from urllib.parse import urlsplit

from ._sserpent import _clock_ns

logger = logging.getLogger("sserpent")
# A library's logger: quiet unless the application configures logging (no last-resort
# printing of failures the caller already gets as exceptions).
logger.addHandler(logging.NullHandler())

# Set by sserpent.instrument() (an ``_otel.Telemetry``), cleared by uninstrument().
TELEMETRY: Any = None

# What an early end that is not a failure looks like: cancellation and interrupts.
_CANCELLED = ("CancelledError", "GeneratorExit", "KeyboardInterrupt")

Headers = Union[MutableMapping[str, str], list]


def safe_url(url: str) -> str:
    """``url`` without its query, fragment or user info (where secrets go: ``?api-key=``,
    ``?key=``, ``user:pass@``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    return f"{parts.scheme}://{host}{port}{parts.path}"


def operation_of(path: str) -> str:
    """``gen_ai.operation.name`` for an API path."""
    if path.endswith("/chat/completions") or path.endswith("/chat"):
        return "chat"
    if path.endswith("/completions") or path.endswith("generateText"):
        return "text_completion"
    if path.endswith("/embeddings"):
        return "embeddings"
    return "chat"  # /responses, /messages


class Call:
    """One request's telemetry and log lines; called once with the stream's end record."""

    __slots__ = ("provider", "operation", "method", "url", "model", "body", "streamed", "start_ns",
                 "telemetry", "span", "metric_attrs", "with_text", "response", "done")

    def __init__(self, provider: str, operation: str, method: str, url: str, body: Any, streamed: bool) -> None:
        self.provider = provider
        self.operation = operation
        self.method = method
        self.url = url
        self.body = body
        self.model = _model_of(body)
        self.streamed = streamed
        self.start_ns = _clock_ns()
        # The telemetry that started the span: it ends it even after uninstrument().
        self.telemetry: Any = None
        self.span: Any = None
        self.metric_attrs: dict[str, Any] = {}
        self.with_text = False
        # A non-streamed call's parsed response (read before the stream is closed).
        self.response: Any = None
        self.done = False

    def __call__(self, record: dict[str, Any]) -> None:
        if self.done:
            return
        self.done = True
        telemetry = self.telemetry
        if self.response is not None:
            _from_response(record, self.response)
        if self.span is not None and telemetry is not None:
            telemetry.finish(self, record)
        _log(self, record)

    def fail(self, error: BaseException) -> None:
        """The request failed before the stream could report (a bad argument, a signer error)."""
        if not self.done:
            now = _clock_ns()
            self({"start_ns": None, "headers_ns": None, "first_chunk_ns": None, "first_text_ns": None,
                  "last_chunk_ns": None, "end_ns": now, "chunks": 0, "attempts": 0, "retries": [], "gaps": [],
                  "status": None, "request_id": None, "error": error, "response_id": None,
                  "response_model": None, "finish_reasons": [], "input_tokens": None, "output_tokens": None})


def begin(provider: str, method: str, url: str, path: str, body: Any, headers: Headers,
          streamed: bool, operation: Optional[str] = None) -> Optional[Call]:
    """A :class:`Call` for this request, or ``None`` when telemetry is off and the logger
    would drop everything. Starts the span (a child of the current one) and adds the
    propagator's headers (``traceparent``) to ``headers``."""
    telemetry = TELEMETRY
    if telemetry is None and not logger.isEnabledFor(logging.WARNING):
        return None
    call = Call(provider, operation or operation_of(path), method, url, body, streamed)
    if telemetry is not None:
        telemetry.start(call, headers)
    return call


def _model_of(body: Any) -> Optional[str]:
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    if model is None:  # OCI: servingMode.modelId
        serving = body.get("servingMode")
        if isinstance(serving, dict):
            model = serving.get("modelId") or serving.get("endpointId")
    return model if isinstance(model, str) else None


def _from_response(record: dict[str, Any], response: Any) -> None:
    """A non-streamed response's id, model, finish reasons and usage (OpenAI and Anthropic shapes)."""
    get = getattr(response, "get", None)
    if get is None:
        return
    try:
        record["response_id"] = get("id")
        record["response_model"] = get("model")
        usage = get("usage")
        if usage is not None:
            uget = usage.get
            record["input_tokens"] = uget("prompt_tokens", uget("input_tokens"))
            record["output_tokens"] = uget("completion_tokens", uget("output_tokens"))
        reasons = []
        for choice in get("choices") or ():
            reason = choice.get("finish_reason")
            if reason is not None:
                reasons.append(reason)
        if get("stop_reason") is not None:
            reasons.append(get("stop_reason"))
        record["finish_reasons"] = reasons
    except Exception:  # an unexpected shape: the span goes without these
        pass


def _log(call: Call, record: dict[str, Any]) -> None:
    url = call.url
    for _at, attempt, why in record["retries"]:
        logger.info("%s %s: retried (attempt %d) after %s", call.method, url, attempt, why)
    error = record["error"]
    status = record["status"]
    if error is None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %s request_id=%s attempt=%s", call.method, url, status,
                         record["request_id"], record["attempts"])
        return
    name = type(error).__name__
    if name in _CANCELLED:
        logger.debug("%s %s -> %s request_id=%s attempt=%s: %s", call.method, url, status,
                     record["request_id"], record["attempts"], name)
        return
    status = getattr(error, "status_code", None) or status
    logger.warning("%s %s failed: %s (status %s, request_id=%s, attempt %s)", call.method, url, name, status,
                   record["request_id"] or getattr(error, "request_id", None), record["attempts"])
