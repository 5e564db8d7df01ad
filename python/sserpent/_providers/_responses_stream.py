"""``responses.stream()``: the openai SDK's ``ResponseStream`` over a sserpent stream.

The Responses API's events, as ``responses.create(stream=True)`` yields them (sserpent chunks:
``type``, ``sequence_number`` and every field of the event), with what the SDK's helper adds:
``snapshot`` (the text or arguments so far) on ``response.output_text.delta`` and
``response.function_call_arguments.delta``, ``parsed`` on ``response.output_text.done``, and on
``response.completed`` the final response (the SDK's ``ParsedResponse`` when openai is
installed). ``get_final_response()`` returns it.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Optional, Type

from .._sserpent import Stream
from ._base import _given
from ._raw_response import RawResponse

__all__ = ["ResponseStream", "AsyncResponseStream", "ResponsesStreamMixin"]

_UNSUPPORTED = ("response_id", "starting_after")


class ResponseStreamEvent:
    """An event with the SDK helper's extra field (``snapshot``, ``parsed`` or ``response``);
    every other attribute is the event's own."""

    __slots__ = ("_event", "_name", "_value")

    def __init__(self, event: Any, name: str, value: Any) -> None:
        self._event = event
        self._name = name
        self._value = value

    def __getattr__(self, name: str) -> Any:
        if name == self._name:
            value = self._value
            return value() if callable(value) and name == "snapshot" else value
        return getattr(self._event, name)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self._event.to_dict()
        value = getattr(self, self._name)
        data[self._name] = value.to_dict() if hasattr(value, "to_dict") else value
        return data

    def __repr__(self) -> str:
        return f"ResponseStreamEvent({self.to_dict()!r})"


class _Text:
    """A growing string, read as it was after ``n`` deltas."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def at(self, n: int) -> Callable[[], str]:
        return lambda: "".join(self.parts[:n])


class _State:
    def __init__(self, text_format: Any, tools: Any) -> None:
        self.text_format = text_format
        self.tools = tools
        self.texts: dict[tuple[int, int], _Text] = {}
        self.arguments: dict[int, _Text] = {}
        self.completed: Any = None

    def _grow(self, table: dict[Any, _Text], key: Any, delta: str) -> Callable[[], str]:
        text = table.get(key)
        if text is None:
            text = table[key] = _Text()
        text.parts.append(delta)
        return text.at(len(text.parts))

    def handle(self, event: Any) -> Any:
        kind = event.type
        if kind == "response.output_text.delta":
            return ResponseStreamEvent(event, "snapshot",
                                       self._grow(self.texts, (event.output_index, event.content_index), event.delta))
        if kind == "response.function_call_arguments.delta":
            return ResponseStreamEvent(event, "snapshot", self._grow(self.arguments, event.output_index, event.delta))
        if kind == "response.output_text.done":
            return ResponseStreamEvent(event, "parsed", self._parse_text(event.text))
        if kind == "response.completed":
            self.completed = self._final(event.response)
            return ResponseStreamEvent(event, "response", self.completed)
        return event

    def _parse_text(self, text: str) -> Any:
        if self.text_format is None:
            return None
        from openai.lib._parsing._responses import parse_text

        return parse_text(text, text_format=self.text_format, phase=None)

    def _final(self, response: Any) -> Any:
        try:
            from openai._models import construct_type
            from openai.lib._parsing._responses import parse_response
            from openai.types.responses import Response
        except ImportError:
            return response
        from openai import omit

        return parse_response(
            text_format=self.text_format if self.text_format is not None else omit,
            input_tools=self.tools if self.tools is not None else omit,
            response=construct_type(type_=Response, value=json.loads(response.model_dump_json())),
        )


class _Base:
    def __init__(self, stream: Stream, state: _State) -> None:
        self._stream = stream
        self._state = state

    @property
    def response(self) -> RawResponse:
        return RawResponse(self._stream, self._stream)

    def _final(self) -> Any:
        if self._state.completed is None:
            raise RuntimeError("Didn't receive a `response.completed` event.")
        return self._state.completed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._stream!r}>"


class ResponseStream(_Base):
    """``with client.responses.stream(...) as stream:``: iterate for the events;
    ``get_final_response()`` for the response."""

    def __init__(self, stream: Stream, state: _State) -> None:
        super().__init__(stream, state)
        self._iterator = self.__events()

    def __events(self) -> Iterator[Any]:
        handle = self._state.handle
        for event in self._stream:
            yield handle(event)

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def __next__(self) -> Any:
        return next(self._iterator)

    def until_done(self) -> ResponseStream:
        for _ in self._iterator:
            pass
        return self

    def get_final_response(self) -> Any:
        self.until_done()
        return self._final()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> ResponseStream:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()


class AsyncResponseStream(_Base):
    """``async with client.responses.stream(...) as stream:`` for ``async for``."""

    def __init__(self, stream: Stream, state: _State) -> None:
        super().__init__(stream, state)
        self._iterator = self.__events()

    async def __events(self) -> AsyncIterator[Any]:
        handle = self._state.handle
        async for event in self._stream:
            yield handle(event)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def until_done(self) -> AsyncResponseStream:
        async for _ in self._iterator:
            pass
        return self

    async def get_final_response(self) -> Any:
        await self.until_done()
        return self._final()

    async def close(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> AsyncResponseStream:
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()


class _Manager:
    def __init__(self, request: Callable[[], Any], state: _State) -> None:
        self._request = request
        self._state = state
        self._stream: Any = None

    def __enter__(self) -> ResponseStream:
        self._stream = ResponseStream(self._request(), self._state)
        return self._stream

    def __exit__(self, *exc: Any) -> None:
        if self._stream is not None:
            self._stream.close()

    async def __aenter__(self) -> AsyncResponseStream:
        request: Awaitable[Stream] = self._request()
        self._stream = AsyncResponseStream(await request, self._state)
        return self._stream

    async def __aexit__(self, *exc: Any) -> None:
        if self._stream is not None:
            await self._stream.close()


class ResponsesStreamMixin:
    """``responses.stream()`` on a responses resource."""

    _async: bool

    def stream(self, **params: Any) -> Any:
        """``with client.responses.stream(model=..., input=...) as stream:`` (``async with``
        on the async clients), as in the openai SDK."""
        for name in _UNSUPPORTED:
            if _given(params.get(name)) and params.get(name) is not None:
                raise TypeError(f"responses.stream({name}=...) (resuming a stored response) is not supported by "
                                "sserpent; use the openai SDK's client for it")
        if "stream" in params:
            raise TypeError("stream() got an unexpected keyword argument 'stream'")
        text_format = params.pop("text_format", None)
        if not _given(text_format):
            text_format = None
        body = dict(params, stream=True)
        if text_format is not None:
            try:
                from openai.lib._parsing._responses import type_to_text_format_param
            except ImportError:
                raise TypeError("responses.stream(text_format=...) needs the openai SDK: pip install openai") from None
            text = dict(body.get("text") or {})
            if "format" in text:
                raise TypeError("Cannot mix and match text.format with text_format")
            text["format"] = type_to_text_format_param(text_format)
            body["text"] = text
        tools = params.get("tools")
        state = _State(text_format, list(tools) if tools is not None and _given(tools) else None)
        headers = dict(body.get("extra_headers") or {})
        body["extra_headers"] = {"X-Stainless-Helper-Method": "responses.stream", **headers}
        call = self._call  # type: ignore[attr-defined]
        return _Manager(lambda: call(body), state)
