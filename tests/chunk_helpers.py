"""Reading chunks back against ``json.loads``: ``parse`` (text to chunk), ``strict_eq`` (same
values and types), ``deep_check`` (every accessor of a chunk agrees), for tests/test_chunks*.py."""

from __future__ import annotations

import json
import math
from typing import Any

from sserpent import Chunk, Event

METHODS = ("get", "keys", "values", "items", "to_dict", "to_json", "model_dump", "model_dump_json")


def parse(text: str) -> Any:
    return Event(text).json()


def strict_eq(a: Any, b: Any) -> None:
    """Equal values of exactly the same types, dict keys in the same order, -0.0 kept."""
    assert type(a) is type(b), (a, b)
    if isinstance(b, dict):
        assert list(a.keys()) == list(b.keys())
        for k in b:
            strict_eq(a[k], b[k])
    elif isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            strict_eq(x, y)
    elif isinstance(b, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), (a, b)
        assert math.copysign(1.0, a) == math.copysign(1.0, b), (a, b)
    else:
        assert a == b, (a, b)


def plain(value: Any) -> Any:
    """Chunks (anywhere in lists) as plain dicts; anything else unchanged."""
    if type(value) is Chunk:
        return value.to_dict()
    if type(value) is list:
        return [plain(v) for v in value]
    return value


def deep_check(got: Any, exp: Any, shape: str = "Chunk") -> None:
    """``got`` (what sserpent returns) reads exactly like ``exp`` (json.loads' result)."""
    if isinstance(exp, dict):
        assert type(got) is Chunk
        assert len(got) == len(exp)
        assert list(got) == list(exp)
        keys, values, items = got.keys(), got.values(), got.items()
        assert type(keys) is list and type(values) is list and type(items) is list
        assert keys == list(exp)
        assert [k for k, _ in items] == list(exp)
        for (k, v), gv, (_, iv) in zip(exp.items(), values, items):
            deep_check(got[k], v)  # the full check recurses along one accessor only,
            # the others must give the same value (compared as plain data)
            strict_eq(plain(gv), v)
            strict_eq(plain(iv), v)
            strict_eq(plain(got.get(k)), v)
            strict_eq(plain(got.get(k, object())), v)
            assert k in got
            if not k.startswith("_") and k not in METHODS:
                strict_eq(plain(getattr(got, k)), v)
        assert got == exp
        assert not (got != exp)
        strict_eq(got.to_dict(), exp)
        strict_eq(got.model_dump(exclude_unset=True), exp)
        strict_eq(json.loads(got.to_json()), exp)
        strict_eq(json.loads(got.model_dump_json(exclude_unset=True)), exp)
        assert repr(got) == f"{shape}({got.to_json()})"
        assert got == parse(got.to_json())
    elif isinstance(exp, list):
        assert type(got) is list
        assert len(got) == len(exp)
        for g, e in zip(got, exp):
            deep_check(g, e)
    else:
        strict_eq(got, exp)
