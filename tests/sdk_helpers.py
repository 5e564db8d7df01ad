"""Reading recorded bytes the way the openai SDK does, for the differential tests
(tests/test_differential_openai.py, tests/test_model_dump.py)."""

from __future__ import annotations

import json
from typing import Any, List

from openai._models import construct_type
from openai._streaming import SSEDecoder
from openai.types.chat import ChatCompletionChunk


def sdk_decode(raw: bytes, model: Any = ChatCompletionChunk) -> List[Any]:
    """The SDK's SSE decoder and model construction, as its Stream class does it."""
    out = []
    for sse in SSEDecoder().iter_bytes(iter([raw])):
        if sse.data.startswith("[DONE]"):
            break
        out.append(construct_type(type_=model, value=json.loads(sse.data)))
    return out
