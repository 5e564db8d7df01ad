"""OpenTelemetry GenAI spans and metrics (``sserpent.instrument()``), following the GenAI
semantic conventions as of semantic-conventions v1.41.0 (``gen_ai.provider.name``, the
``gen_ai.client.operation.time_to_first_chunk`` / ``time_per_output_chunk`` metrics). Every
time comes from the Rust clock: the span starts when the call is made and ends when the
stream's end was seen (the last byte, the close, the error); the time to first chunk is when
its bytes arrived, not when Python read it. ``opentelemetry-api`` is imported only here,
only by :func:`instrument`.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from . import _observe

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
# The conventions' ExplicitBucketBoundaries.
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

# Request parameters -> gen_ai.request.* (OpenAI, Anthropic and OCI spellings).
_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "topP": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "topK": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "maxTokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "maxOutputTokens": "gen_ai.request.max_tokens",  # Gemini's generationConfig
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "frequencyPenalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "presencePenalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
    "stop_sequences": "gen_ai.request.stop_sequences",
    "stopSequences": "gen_ai.request.stop_sequences",
    "n": "gen_ai.request.choice.count",
}


_METRIC_KEYS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "server.address",
                "server.port")


def instrument(tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool = False) -> None:
    """Turns on OpenTelemetry GenAI spans and metrics for every sserpent provider client in
    the process (``OpenAI``, ``AzureOpenAI``, ``Anthropic``, their async forms, OCI's
    ``GenerativeAiInference``). ``tracer_provider`` / ``meter_provider``: the global ones
    when ``None``. ``capture_content=True`` also records the prompt and the completion
    (``gen_ai.input.messages``, ``gen_ai.output.messages``) on the span. Calling it again
    replaces the previous settings."""
    try:
        from opentelemetry import metrics, propagate, trace
    except ImportError:
        raise ImportError(
            "sserpent.instrument() needs opentelemetry-api: pip install 'sserpent[otel]'"
        ) from None
    from . import __version__

    tracer = trace.get_tracer("sserpent", __version__, tracer_provider, schema_url=SCHEMA_URL)
    meter = metrics.get_meter("sserpent", __version__, meter_provider, schema_url=SCHEMA_URL)
    _observe.TELEMETRY = Telemetry(tracer, meter, trace, propagate, bool(capture_content))


def uninstrument() -> None:
    """Turns telemetry off again (requests already started still end their spans)."""
    _observe.TELEMETRY = None


def _histogram(meter: Any, name: str, unit: str, description: str, buckets: list) -> Any:
    try:
        return meter.create_histogram(name, unit=unit, description=description,
                                      explicit_bucket_boundaries_advisory=buckets)
    except TypeError:  # opentelemetry-api before 1.23: the SDK's default buckets
        return meter.create_histogram(name, unit=unit, description=description)


class Telemetry:
    def __init__(self, tracer: Any, meter: Any, trace: Any, propagate: Any, capture_content: bool) -> None:
        self.tracer = tracer
        self.trace = trace
        self.propagate = propagate
        self.client_kind = trace.SpanKind.CLIENT
        self.error_status = trace.Status(trace.StatusCode.ERROR)
        self.capture_content = capture_content
        self.duration = _histogram(meter, "gen_ai.client.operation.duration", "s",
                                   "GenAI operation duration.", DURATION_BUCKETS)
        self.tokens = _histogram(meter, "gen_ai.client.token.usage", "{token}",
                                 "Number of input and output tokens used.", TOKEN_BUCKETS)
        self.ttfc = _histogram(meter, "gen_ai.client.operation.time_to_first_chunk", "s",
                               "Time to receive the first chunk.", DURATION_BUCKETS)
        self.tpoc = _histogram(meter, "gen_ai.client.operation.time_per_output_chunk", "s",
                               "Time per output chunk, for each chunk after the first.", DURATION_BUCKETS)

    def start(self, call: _observe.Call, headers: _observe.Headers) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": call.operation,
            "gen_ai.provider.name": call.provider,
        }
        if call.model:
            attrs["gen_ai.request.model"] = call.model
        address, port = _server(call.url)
        if address:
            attrs["server.address"] = address
            attrs["server.port"] = port
        body = call.body if isinstance(call.body, dict) else {}
        params = body
        for key in ("chatRequest", "inferenceRequest"):  # OCI nests the parameters
            if isinstance(body.get(key), dict):
                params = body[key]
        for key, name in _PARAMS.items():
            value = params.get(key)
            if value is None or isinstance(value, dict):
                continue
            if name == "gen_ai.request.stop_sequences":
                value = [value] if isinstance(value, str) else [str(v) for v in value]
            elif name == "gen_ai.request.choice.count" and value == 1:
                continue
            attrs[name] = value
        if self.capture_content:
            call.with_text = True
            _input_content(params, attrs)
        call.metric_attrs = {k: v for k, v in attrs.items() if k in _METRIC_KEYS}
        name = f"{call.operation} {call.model}" if call.model else call.operation
        span = self.tracer.start_span(name, kind=self.client_kind, attributes=attrs, start_time=call.start_ns)
        call.span = span
        call.telemetry = self
        carrier: dict[str, str] = {}
        self.propagate.inject(carrier, context=self.trace.set_span_in_context(span))
        if isinstance(headers, list):
            headers.extend(carrier.items())
        else:
            headers.update(carrier)

    def finish(self, call: _observe.Call, r: dict[str, Any]) -> None:
        span = call.span
        end_ns = r["end_ns"]
        for at, attempt, why in r["retries"]:
            event = {"sserpent.attempt": attempt}
            if why.isdigit():
                event["http.response.status_code"] = int(why)
            else:
                event["error.type"] = why
            span.add_event("sserpent.retry", event, timestamp=at)
        metric_attrs = dict(call.metric_attrs)
        attrs: dict[str, Any] = {}
        if r["response_model"]:
            attrs["gen_ai.response.model"] = metric_attrs["gen_ai.response.model"] = r["response_model"]
        if r["response_id"]:
            attrs["gen_ai.response.id"] = r["response_id"]
        if r["finish_reasons"]:
            attrs["gen_ai.response.finish_reasons"] = list(r["finish_reasons"])
        if r["input_tokens"] is not None:
            attrs["gen_ai.usage.input_tokens"] = r["input_tokens"]
        if r["output_tokens"] is not None:
            attrs["gen_ai.usage.output_tokens"] = r["output_tokens"]
        if r["status"] is not None:
            attrs["http.response.status_code"] = r["status"]
        if r["attempts"] > 1:
            attrs["http.request.resend_count"] = r["attempts"] - 1
        first = r["first_chunk_ns"]
        if call.streamed and first is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = (first - call.start_ns) / 1e9
        if self.capture_content and r.get("outputs"):
            attrs["gen_ai.output.messages"] = json.dumps([
                {"role": role or "assistant", "parts": [{"type": "text", "content": text}],
                 "finish_reason": reason or ""}
                for role, text, reason in r["outputs"]
            ], ensure_ascii=False)
        error = r["error"]
        if error is not None:
            error_type = type(error).__name__
            attrs["error.type"] = metric_attrs["error.type"] = error_type
            status = getattr(error, "status_code", None)
            if isinstance(status, int):
                attrs["http.response.status_code"] = status
            span.set_status(self.trace.Status(self.trace.StatusCode.ERROR, error_type))
        span.set_attributes(attrs)
        span.end(end_time=end_ns)
        self.duration.record((end_ns - call.start_ns) / 1e9, metric_attrs)
        if r["input_tokens"] is not None:
            self.tokens.record(r["input_tokens"], {**metric_attrs, "gen_ai.token.type": "input"})
        if r["output_tokens"] is not None:
            self.tokens.record(r["output_tokens"], {**metric_attrs, "gen_ai.token.type": "output"})
        if call.streamed and first is not None:
            self.ttfc.record((first - call.start_ns) / 1e9, metric_attrs)
            record = self.tpoc.record
            for gap in r["gaps"]:
                record(gap, metric_attrs)


def _server(url: str) -> tuple[Optional[str], Optional[int]]:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname, port
    except ValueError:
        return None, None


def _parts(content: Any) -> list:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    out = []
    for part in content or ():
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        kind = str(part.get("type", "text")).lower()
        if text is not None:
            out.append({"type": "text", "content": text})
        else:
            out.append({"type": kind})
    return out


def _input_content(params: dict, attrs: dict[str, Any]) -> None:
    """``gen_ai.input.messages`` / ``gen_ai.system_instructions`` from the request (the
    conventions' JSON: role and parts)."""
    messages = params.get("messages")
    if messages is None and "input" in params:  # Responses API
        messages = params["input"]
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
    if messages is None and "prompt" in params:
        messages = [{"role": "user", "content": params["prompt"]}]
    if isinstance(messages, list):
        attrs["gen_ai.input.messages"] = json.dumps([
            {"role": str(m.get("role", "user")).lower(), "parts": _parts(m.get("content"))}
            for m in messages if isinstance(m, dict)
        ], ensure_ascii=False)
    system = params.get("system") or params.get("instructions")
    if system:
        attrs["gen_ai.system_instructions"] = json.dumps(_parts(system), ensure_ascii=False)
