"""``chat.completions.stream()``: the openai SDK's ``ChatCompletionStream`` over a sserpent stream.

The snapshot and the events come from the Rust core (``_ChatState``, the SDK's
``ChatCompletionStreamState``): for each chunk a ``chunk`` event, then per choice
``content.delta``, ``refusal.delta``, ``tool_calls.function.arguments.delta``,
``logprobs.content.delta`` / ``logprobs.refusal.delta``, and the ``*.done`` events when the
choice finishes or its tool calls move on. The strings so far and ``parsed`` (partial JSON)
are read from the snapshot when asked for. This module only drives the iteration and does
the parsing the SDK does with pydantic (``response_format=`` a model,
``pydantic_function_tool``) for the done events and the final completion.
"""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace, TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Optional, Type

from .._errors import SserpentError
from .._sserpent import Stream, _ChatEvents, _ChatState
from ._base import _given
from ._raw_response import RawResponse

__all__ = [
    "ChatCompletionStream",
    "AsyncChatCompletionStream",
    "ChatCompletionStreamManager",
    "AsyncChatCompletionStreamManager",
    "LengthFinishReasonError",
    "ContentFilterFinishReasonError",
]

HELPER_HEADER = "X-Stainless-Helper-Method"


class LengthFinishReasonError(SserpentError):
    """A request with a parsed ``response_format`` or strict tools stopped at ``max_tokens``
    (``finish_reason="length"``); the openai SDK's error of that name when it is installed."""

    def __init__(self, completion: Any = None) -> None:
        super().__init__("Could not parse response content as the length limit was reached")
        self.completion = completion


class ContentFilterFinishReasonError(SserpentError):
    """As :class:`LengthFinishReasonError`, for ``finish_reason="content_filter"``."""

    def __init__(self, completion: Any = None) -> None:
        super().__init__("Could not parse response content as the request was rejected by the content filter")
        self.completion = completion


def _openai_parsing() -> Any:
    """The openai SDK's parsing helpers, or None when it is not installed."""
    try:
        from openai.lib._parsing import _completions
    except ImportError:
        return None
    return _completions


def _is_pydantic_tool(fn: Any) -> bool:
    return hasattr(fn, "model") and isinstance(fn, dict)


def _tool_by_name(tools: list[Any], name: str) -> Any:
    return next((t for t in tools if t.get("type") == "function" and t.get("function", {}).get("name") == name), None)


def _strict_json_schema(model: type) -> dict[str, Any]:
    """Without the openai SDK: pydantic's JSON schema made strict (every property required,
    no additional properties), as ``openai.lib._pydantic.to_strict_json_schema`` does."""
    import pydantic

    schema = pydantic.TypeAdapter(model).json_schema()

    def strict(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
                node["required"] = list(node["properties"])
            for v in node.values():
                strict(v)
        elif isinstance(node, list):
            for v in node:
                strict(v)

    strict(schema)
    return schema


class _Parsing:
    """What ``response_format`` and ``tools`` make of the stream, as the SDK's
    ``ChatCompletionStreamState``: which values are parsed, and how."""

    def __init__(self, response_format: Any, tools: Any) -> None:
        self.sdk = _openai_parsing()
        self.response_format = response_format if _given(response_format) else None
        self.tools = list(tools) if tools is not None and _given(tools) else []
        rf = self.response_format
        self.rich_class = rf is not None and inspect.isclass(rf)
        # Without the SDK, a JSON-schema dict gives parsed = the decoded JSON (the SDK gives None).
        self.dict_json = (self.sdk is None and isinstance(rf, dict)
                          and rf.get("type") in ("json_schema", "json_object"))

    def request_format(self) -> Any:
        rf = self.response_format
        if rf is None or not self.rich_class:
            return rf
        if self.sdk is not None:
            return self.sdk.type_to_response_format_param(rf)
        return {"type": "json_schema",
                "json_schema": {"schema": _strict_json_schema(rf), "name": rf.__name__, "strict": True}}

    def parse_content(self, content: str) -> Any:
        if self.dict_json:
            return json.loads(content)
        if self.sdk is not None:
            return self.sdk._parse_content(self.response_format, content)
        import pydantic

        return pydantic.TypeAdapter(self.response_format).validate_json(content)

    def parse_arguments(self, name: str, arguments: str) -> Any:
        if self.sdk is not None:
            return self.sdk.parse_function_tool_arguments(
                input_tools=self.tools, function=SimpleNamespace(name=name, arguments=arguments))
        tool = _tool_by_name(self.tools, name)
        if tool is None:
            return None
        fn = tool.get("function")
        if _is_pydantic_tool(fn):
            return fn.model.model_validate_json(arguments)
        return json.loads(arguments) if fn.get("strict") else None

    def parseable(self) -> bool:
        if self.rich_class:
            return True
        return any(t.get("type") == "function" and (_is_pydantic_tool(t.get("function"))
                                                    or bool(t.get("function", {}).get("strict")))
                   for t in self.tools)

    def strict_tools(self) -> list[str]:
        names = []
        for t in self.tools:
            name = t.get("function", {}).get("name") if t.get("type") == "function" else None
            if name is not None and _tool_by_name(self.tools, name) is t and t["function"].get("strict"):
                names.append(name)
        return names

    def finish_error(self, reason: str, snapshot_json: Optional[str]) -> BaseException:
        if self.sdk is not None:
            import openai

            snapshot = self.sdk_snapshot(snapshot_json)
            cls = openai.LengthFinishReasonError if reason == "length" else openai.ContentFilterFinishReasonError
            return cls(completion=snapshot)
        data = json.loads(snapshot_json) if snapshot_json else None
        cls2 = LengthFinishReasonError if reason == "length" else ContentFilterFinishReasonError
        return cls2(completion=data)

    def state(self) -> _ChatState:
        return _ChatState(
            rich=self.rich_class or self.dict_json,
            strict_tools=self.strict_tools(),
            parseable=self.parseable(),
            finish_error=self.finish_error,
            parse_content=self.parse_content if (self.rich_class or self.dict_json) else None,
            parse_arguments=self.parse_arguments if self.tools else None,
        )

    def sdk_snapshot(self, text: Optional[str]) -> Any:
        from openai._models import construct_type
        from openai.lib.streaming.chat._types import ParsedChatCompletionSnapshot

        return construct_type(type_=ParsedChatCompletionSnapshot, value=json.loads(text) if text else {})

    def final(self, state: _ChatState) -> Any:
        if state.snapshot_json() is None:
            raise RuntimeError("the stream ended before its first chunk: there is no completion")
        if self.sdk is not None:
            return self.sdk.parse_chat_completion(
                chat_completion=self.sdk_snapshot(state.snapshot_json()),
                response_format=self.response_format if self.rich_class else _omit(),
                input_tools=self.tools,
            )
        snapshot = state.snapshot()
        for choice in snapshot.choices:
            if choice.finish_reason == "length":
                raise LengthFinishReasonError(completion=snapshot)
            if choice.finish_reason == "content_filter":
                raise ContentFilterFinishReasonError(completion=snapshot)
        return snapshot


def _omit() -> Any:
    from openai import omit

    return omit


def _check(params: dict[str, Any]) -> None:
    """Refuses, naming the argument, what the SDK could not send or parse."""
    if "stream" in params:
        raise TypeError("stream() got an unexpected keyword argument 'stream'")
    rf = params.get("response_format")
    if rf is not None and _given(rf) and not (isinstance(rf, dict) or inspect.isclass(rf)):
        raise TypeError(f"response_format must be a dict or a pydantic model class, not {type(rf).__name__}")
    tools = params.get("tools")
    if tools is not None and _given(tools):
        if isinstance(tools, (str, bytes, dict)) or not hasattr(tools, "__iter__"):
            raise TypeError(f"tools must be a list of tool dicts, not {type(tools).__name__}")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or "type" not in t:
                raise TypeError(f"tools[{i}] must be a dict with a 'type', not {type(t).__name__}")


def stream_request(params: dict[str, Any]) -> tuple[dict[str, Any], _Parsing]:
    """The ``create`` parameters of a ``stream(**params)`` call, and its parsing."""
    _check(params)
    tools = params.get("tools")
    if tools is not None and _given(tools):
        params = dict(params, tools=list(tools))
    parsing = _Parsing(params.get("response_format"), params.get("tools"))
    body = dict(params, stream=True)
    if parsing.response_format is not None:
        body["response_format"] = parsing.request_format()
    if parsing.tools:
        body["tools"] = [dict(t, function=dict(t["function"])) if isinstance(t.get("function"), dict) else t
                         for t in parsing.tools]
    headers = dict(body.get("extra_headers") or {})
    body["extra_headers"] = {HELPER_HEADER: "chat.completions.stream", **headers}
    return body, parsing


class _Base:
    def __init__(self, stream: Stream, parsing: _Parsing) -> None:
        self._stream = stream
        self._parsing = parsing
        self._state = parsing.state()

    @property
    def response(self) -> RawResponse:
        """The response line and headers (``status_code``, ``headers``, ``request_id``)."""
        return RawResponse(self._stream, self._stream)

    @property
    def current_completion_snapshot(self) -> Any:
        """The completion accumulated so far (a :class:`sserpent.Chunk` reading like the SDK's
        ``ParsedChatCompletionSnapshot``; ``parsed`` / ``parsed_arguments`` are the JSON so far)."""
        snapshot = self._state.snapshot()
        if snapshot is None:
            raise RuntimeError("no chunk has arrived yet")
        return snapshot

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._stream!r}>"


class ChatCompletionStream(_Base):
    """``with client.chat.completions.stream(...) as stream:``: iterate for the events;
    ``get_final_completion()`` for the parsed completion."""

    def __init__(self, stream: Stream, parsing: _Parsing) -> None:
        super().__init__(stream, parsing)
        # Read in Rust: the stream's chunks, folded into the state, their events served.
        self._iterator: Iterator[Any] = _ChatEvents(stream, self._state)

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def __next__(self) -> Any:
        return next(self._iterator)

    def until_done(self) -> ChatCompletionStream:
        """Reads the stream to its end."""
        for _ in self._iterator:
            pass
        return self

    def get_final_completion(self) -> Any:
        """Reads the stream to its end and returns the completion: the SDK's
        ``ParsedChatCompletion`` when openai is installed, else a :class:`sserpent.Chunk`."""
        self.until_done()
        return self._parsing.final(self._state)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> ChatCompletionStream:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


class AsyncChatCompletionStream(_Base):
    """``async with client.chat.completions.stream(...) as stream:``: :class:`ChatCompletionStream`
    for ``async for``; ``get_final_completion()``, ``until_done()`` and ``close()`` are awaited."""

    def __init__(self, stream: Stream, parsing: _Parsing) -> None:
        super().__init__(stream, parsing)
        self._iterator = self.__events()

    async def __events(self) -> AsyncIterator[Any]:
        push = self._state.push
        async for chunk in self._stream:
            for event in push(chunk):
                yield event

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def until_done(self) -> AsyncChatCompletionStream:
        async for _ in self._iterator:
            pass
        return self

    async def get_final_completion(self) -> Any:
        await self.until_done()
        return self._parsing.final(self._state)

    async def close(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> AsyncChatCompletionStream:
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()


class ChatCompletionStreamManager:
    """What ``client.chat.completions.stream(...)`` returns: the request is sent on ``with``
    (HTTP errors raise there) and the stream closed on leaving it."""

    def __init__(self, request: Callable[[], Stream], parsing: _Parsing) -> None:
        self._request = request
        self._parsing = parsing
        self._stream: Optional[ChatCompletionStream] = None

    def __enter__(self) -> ChatCompletionStream:
        self._stream = ChatCompletionStream(self._request(), self._parsing)
        return self._stream

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self._stream is not None:
            self._stream.close()


class AsyncChatCompletionStreamManager:
    """What ``AsyncOpenAI().chat.completions.stream(...)`` returns, for ``async with``."""

    def __init__(self, request: Callable[[], Awaitable[Stream]], parsing: _Parsing) -> None:
        self._request = request
        self._parsing = parsing
        self._stream: Optional[AsyncChatCompletionStream] = None

    async def __aenter__(self) -> AsyncChatCompletionStream:
        self._stream = AsyncChatCompletionStream(await self._request(), self._parsing)
        return self._stream

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        if self._stream is not None:
            await self._stream.close()


class ChatStreamMixin:
    """``chat.completions.stream()`` on a chat completions resource."""

    _async: bool

    def stream(self, **params: Any) -> Any:
        """``with client.chat.completions.stream(...) as stream:`` (``async with`` on the async
        clients), as in the openai SDK: iterate ``stream`` for the events (``chunk``,
        ``content.delta`` / ``.done``, ``refusal.*``, ``tool_calls.function.arguments.*``,
        ``logprobs.*``), ``get_final_completion()`` for the parsed completion."""
        self._check_required(params)  # type: ignore[attr-defined]
        body, parsing = stream_request(params)
        call = self._call  # type: ignore[attr-defined]
        if self._async:
            return AsyncChatCompletionStreamManager(lambda: call(body), parsing)
        return ChatCompletionStreamManager(lambda: call(body), parsing)
