"""OpenTelemetry GenAI spans and metrics (``sserpent.instrument()``) and the ``sserpent``
logger, against the embedded mock server: span names, kinds, attributes, retry events, times
consistent with ``stream.metrics`` (the same Rust stamps; no wall-clock assertions), parent and
``traceparent``, metric points and their buckets; OpenAI, Azure, Anthropic, OCI; sync and async;
streams read out, closed early, cancelled, failed; and the ImportError without opentelemetry.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from typing import Any, Iterator

import pytest
import sserpent
from sserpent import _otel
from sserpent.oci import GenerativeAiInference
from sserpent.testing import MockServer

pytest.importorskip("opentelemetry.sdk")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

MESSAGES = [{"role": "user", "content": "Hello"}]


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list:
        return list(self.spans.get_finished_spans())

    def only(self) -> Any:
        spans = self.finished()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, name: str) -> list:
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        out.extend(m.data.data_points)
        return out

    def unit(self, name: str) -> str:
        for rm in self.reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        return m.unit
        raise KeyError(name)


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    t = Telemetry()
    sserpent.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    yield t
    sserpent.uninstrument()


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as s:
        yield s


def openai_client(server: MockServer, cls: Any = sserpent.OpenAI, **kw: Any) -> Any:
    return cls(api_key="sk-test", base_url=server.url + "/v1", **kw)


def test_stream_span_attributes_and_times(otel: Telemetry, server: MockServer) -> None:
    s = openai_client(server).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, temperature=0.5, max_tokens=64, top_p=0.9,
        stop=["END"], stream_options={"include_usage": True},
    )
    chunks = list(s)
    span = otel.only()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind == trace.SpanKind.CLIENT
    a = dict(span.attributes)
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.response.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.temperature"] == 0.5 and a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.top_p"] == 0.9 and a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.response.id"] == chunks[0].id
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    final = s.final()
    assert a["gen_ai.usage.input_tokens"] == final.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == int(server.url.rsplit(":", 1)[1])
    assert a["http.response.status_code"] == 200
    assert "error.type" not in a and "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert span.status.is_ok
    # The same Rust stamps: from the first chunk to the end, span and stream.metrics agree.
    m = s.metrics
    ttfc = a["gen_ai.response.time_to_first_chunk"]
    span_s = (span.end_time - span.start_time) / 1e9
    assert span_s - ttfc == pytest.approx(m.duration - m.time_to_first_event, abs=1e-6)
    assert span_s >= m.duration  # the span starts at the call, before the request task


def test_metrics_points_units_and_buckets(otel: Telemetry, server: MockServer) -> None:
    server.enqueue(events=[{"choices": [{"index": 0, "delta": {"content": f"w{i}"}}]} for i in range(5)]
                   + [{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}], delay=0.02)
    list(openai_client(server).chat.completions.create(model="m1", messages=MESSAGES, stream=True))
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and list(duration.explicit_bounds) == _otel.DURATION_BUCKETS
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m1",
        "server.address": "127.0.0.1", "server.port": int(server.url.rsplit(":", 1)[1]),
    }
    tokens = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert tokens["input"].sum == 3 and tokens["output"].sum == 5
    assert list(tokens["input"].explicit_bounds) == _otel.TOKEN_BUCKETS
    (ttfc,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1 and list(ttfc.explicit_bounds) == _otel.DURATION_BUCKETS
    span = otel.only()
    assert ttfc.sum == pytest.approx(span.attributes["gen_ai.response.time_to_first_chunk"])
    assert duration.sum == pytest.approx((span.end_time - span.start_time) / 1e9)
    # Paced chunks arrive one read each: a gap per chunk after the first (at most 6 - 1).
    (tpoc,) = otel.points("gen_ai.client.operation.time_per_output_chunk")
    assert 1 <= tpoc.count <= 5 and list(tpoc.explicit_bounds) == _otel.DURATION_BUCKETS
    assert otel.unit("gen_ai.client.operation.duration") == "s"
    assert otel.unit("gen_ai.client.token.usage") == "{token}"


def test_child_of_current_span_and_traceparent_sent(otel: Telemetry, server: MockServer) -> None:
    parent_tracer = otel.tracer_provider.get_tracer("app")
    with parent_tracer.start_as_current_span("GET /chat") as parent:
        list(openai_client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    span = next(s for s in otel.finished() if s.name.startswith("chat"))
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id
    sent = server.requests[-1].headers["traceparent"]
    assert sent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-{int(span.context.trace_flags):02x}"


def test_async_stream(otel: Telemetry, server: MockServer) -> None:
    async def main() -> int:
        s = await openai_client(server, sserpent.AsyncOpenAI).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True)
        return len([c async for c in s])

    assert asyncio.run(main()) > 1
    span = otel.only()
    assert span.name == "chat gpt-4o-mini" and span.status.is_ok
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_closed_early_ends_the_span_without_error(otel: Telemetry, server: MockServer) -> None:
    server.enqueue(events=[{"choices": [{"index": 0, "delta": {"content": "x"}}]}] * 50, delay=0.01)
    with openai_client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True) as s:
        next(s)
    span = otel.only()
    assert span.status.is_ok and "error.type" not in span.attributes
    assert "gen_ai.response.finish_reasons" not in span.attributes


def test_error_at_open(otel: Telemetry, server: MockServer) -> None:
    server.enqueue(status=400, json={"error": {"message": "bad", "type": "invalid_request_error"}})
    with pytest.raises(sserpent.BadRequestError):
        openai_client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    span = otel.only()
    assert span.attributes["error.type"] == "BadRequestError"
    assert span.attributes["http.response.status_code"] == 400
    assert span.status.status_code == trace.StatusCode.ERROR
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "BadRequestError"
    assert otel.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_cut_mid_stream(otel: Telemetry, server: MockServer) -> None:
    server.enqueue(cut_after=2)
    s = openai_client(server, max_retries=0).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(sserpent.IncompleteStreamError):
        list(s)
    assert otel.only().attributes["error.type"] == "IncompleteStreamError"


def test_retries_are_span_events(otel: Telemetry, server: MockServer) -> None:
    server.enqueue(status=429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}})
    list(openai_client(server, max_retries=2).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    span = otel.only()
    (event,) = span.events
    assert event.name == "sserpent.retry"
    assert dict(event.attributes) == {"sserpent.attempt": 2, "http.response.status_code": 429}
    assert span.start_time <= event.timestamp <= span.end_time
    assert span.attributes["http.request.resend_count"] == 1 and span.status.is_ok


def test_async_cancelled(otel: Telemetry, server: MockServer) -> None:
    server.enqueue(stall_after=1, stall_for=30)

    async def main() -> None:
        s = await openai_client(server, sserpent.AsyncOpenAI).chat.completions.create(
            model="m", messages=MESSAGES, stream=True)

        async def read() -> None:
            async for _ in s:
                pass

        task = asyncio.ensure_future(read())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = otel.only()
    assert span.attributes["error.type"] == "CancelledError"


def test_non_streamed_create(otel: Telemetry, server: MockServer) -> None:
    r = openai_client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = otel.only()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["gen_ai.response.id"] == r.id
    assert span.attributes["gen_ai.usage.output_tokens"] == r.usage.completion_tokens
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes
    assert otel.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_azure_and_anthropic_and_oci(otel: Telemetry) -> None:
    from test_credentials import OCI_BODY, OCI_CONFIG, OCI_PUBLIC_PEM

    with MockServer(oci_public_key=OCI_PUBLIC_PEM) as server:
        _three_providers(otel, server, OCI_BODY, OCI_CONFIG)


def _three_providers(otel: Telemetry, server: MockServer, oci_body: Any, oci_config: Any) -> None:
    az = sserpent.AzureOpenAI(azure_endpoint=server.url, api_key="az-key", api_version="2024-10-21")
    list(az.chat.completions.create(model="dep", messages=MESSAGES, stream=True))
    an = sserpent.Anthropic(api_key="k", base_url=server.url)
    with an.messages.stream(model="claude-x", max_tokens=32, messages=MESSAGES) as ms:
        ms.get_final_text()
    oci = GenerativeAiInference(config=oci_config, service_endpoint=server.url)
    list(oci.chat(oci_body))
    spans = otel.finished()
    assert [s.attributes["gen_ai.provider.name"] for s in spans] == ["azure.ai.openai", "anthropic", "oci"]
    assert [s.name for s in spans] == ["chat dep", "chat claude-x", "chat ocid1.generativeaimodel.oc1..model"]
    anthropic = spans[1].attributes
    assert anthropic["gen_ai.request.max_tokens"] == 32 and anthropic["gen_ai.usage.output_tokens"] > 0
    assert anthropic["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert all(s.status.is_ok for s in spans)
    assert "traceparent" in server.requests[-1].headers  # added after OCI's signature, which still checks
    assert server.requests[-1].oci_signature_valid is True


def test_content_capture(server: MockServer) -> None:
    t = Telemetry()
    sserpent.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider, capture_content=True)
    try:
        s = openai_client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    finally:
        sserpent.uninstrument()
    a = t.only().attributes
    import json

    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]
    (out,) = json.loads(a["gen_ai.output.messages"])
    assert out["parts"] == [{"type": "text", "content": text}] and out["finish_reason"] == "stop"


def test_uninstrument_stops_spans(server: MockServer) -> None:
    t = Telemetry()
    sserpent.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    sserpent.uninstrument()
    list(openai_client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert t.finished() == [] and "traceparent" not in server.requests[-1].headers


def test_logger_lines(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sserpent")
    server.enqueue(status=503, headers={"retry-after": "0"}, json={"error": {"message": "busy"}})
    az = sserpent.AzureOpenAI(azure_endpoint=server.url, api_key="az-key", api_version="2024-10-21", max_retries=1)
    list(az.chat.completions.create(model="dep", messages=MESSAGES, stream=True))
    server.enqueue(status=401, json={"error": {"message": "no"}})
    with pytest.raises(sserpent.AuthenticationError):
        az.chat.completions.create(model="dep", messages=MESSAGES, stream=True)
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "sserpent"]
    url = f"{server.url}/openai/deployments/dep/chat/completions"
    assert records[0] == ("INFO", f"POST {url}: retried (attempt 2) after 503")
    assert records[1][0] == "DEBUG" and records[1][1].startswith(f"POST {url} -> 200 request_id=")
    assert records[1][1].endswith("attempt=2")
    assert records[2][0] == "WARNING"
    assert records[2][1].startswith(f"POST {url} failed: AuthenticationError (status 401")
    assert len(records) == 3 and all("api-version" not in m and "az-key" not in m for _, m in records)


def test_instrument_without_opentelemetry_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "import sserpent\n"
        "try:\n    sserpent.instrument()\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "sserpent[otel]" in out
