"""Decoding helpers for tests/test_decoder*.py: feed pieces to a ``Decoder`` and compare the
events as (type, data, id) tuples."""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

from sserpent import Decoder, Event

T = Tuple[str, str, str]  # (type, data, id)


def tuples(events: Sequence[Event]) -> List[T]:
    return [(e.event, e.data, e.id) for e in events]


def decode(*pieces: Any, max_event_size: int | None = None) -> List[T]:
    d = Decoder() if max_event_size is None else Decoder(max_event_size)
    out: List[Event] = []
    for p in pieces:
        got = d.feed(p)
        assert isinstance(got, list)
        out += got
    out += d.close()
    return tuples(out)


def decode_state(*pieces: bytes) -> Tuple[List[T], str, int | None]:
    d = Decoder()
    out: List[Event] = []
    for p in pieces:
        out += d.feed(p)
    out += d.close()
    return tuples(out), d.last_event_id, d.retry


def msg(data: str, id: str = "") -> T:
    return ("message", data, id)
