"""``client.chats.create(model=..., config=..., history=...)`` as in google-genai: a chat
keeps its history (the user's messages and the model's answers, parts as they came) and
sends it with every message. ``send_message_stream`` yields the response chunks and adds
both turns to the history once the stream ends complete, as the SDK does."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, List

from . import _gemini_request as req


def _model_turn(chunks: List[Any]) -> Dict[str, Any]:
    """The model's answer: the first candidate's parts of every chunk, in order."""
    parts: List[Any] = []
    for chunk in chunks:
        candidates = chunk.get("candidates")
        if not candidates:
            continue
        content = candidates[0].get("content")
        if content is not None:
            parts.extend(p.to_dict() for p in content.get("parts") or [])
    return {"role": "model", "parts": parts}


class Chat:
    def __init__(self, models: Any, model: Any, config: Any, history: Any) -> None:
        self._models = models
        self._model = model
        self._config = config
        self._history: List[Dict[str, Any]] = req.contents(history, "history") if history else []

    def get_history(self, curated: bool = False) -> List[Dict[str, Any]]:
        """The turns so far, as ``{"role", "parts"}`` dicts in the wire's camelCase."""
        return [dict(turn) for turn in self._history]

    def _turn(self, message: Any) -> List[Dict[str, Any]]:
        return req.contents(message, "message")

    def send_message_stream(self, message: Any, config: Any = None) -> Any:
        """The response chunks; on the async chat ``async for chunk in await ...``."""
        turn = self._turn(message)
        contents = self._history + turn
        stream = self._models.generate_content_stream(
            model=self._model, contents=contents, config=config if config is not None else self._config)
        if self._models._async:
            return self._aiter(stream, turn)
        return self._iter(stream, turn)

    def _iter(self, stream: Any, turn: List[Dict[str, Any]]) -> Iterator[Any]:
        chunks: List[Any] = []
        for chunk in stream:
            chunks.append(chunk)
            yield chunk
        self._history += turn + [_model_turn(chunks)]

    async def _aiter(self, stream: Any, turn: List[Dict[str, Any]]) -> Any:
        async def gen() -> AsyncIterator[Any]:
            chunks: List[Any] = []
            async for chunk in await stream:
                chunks.append(chunk)
                yield chunk
            self._history += turn + [_model_turn(chunks)]

        return gen()


class _Chats:
    def __init__(self, models: Any, is_async: bool) -> None:
        self._models = models

    def create(self, *, model: Any, config: Any = None, history: Any = None) -> Chat:
        if not isinstance(model, str):
            raise TypeError(f"model must be a string, not {type(model).__name__}")
        return Chat(self._models, model, config, history)
