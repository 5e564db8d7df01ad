"""sserpent.Decoder's size limit: lines and events over ``max_event_size`` raise SSEError
after the events before them, the rest of the event is skipped, and memory stays bounded."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import sserpent
from decoder_helpers import decode, msg
from sserpent import Decoder, Event, SSEError

# --- size limit --------------------------------------------------------------------------------


def test_line_over_limit_raises_sse_error():
    d = Decoder(100)
    with pytest.raises(SSEError) as info:
        d.feed(b"data: " + b"x" * 200 + b"\n\n")
    err = info.value
    assert err.limit == 100
    assert "100" in str(err)
    assert "max_event_size" in str(err)
    assert isinstance(err, sserpent.SserpentError)
    assert isinstance(err, ValueError)


def test_line_of_exactly_the_limit_is_accepted():
    line = b"data: " + b"x" * 94
    assert len(line) == 100
    assert decode(line + b"\n\n", max_event_size=100) == [msg("x" * 94)]
    with pytest.raises(SSEError):
        decode(line + b"x\n\n", max_event_size=100)


def test_unterminated_line_growing_past_the_limit_raises():
    d = Decoder(100)
    assert d.feed(b"data: " + b"x" * 60) == []
    with pytest.raises(SSEError) as info:
        d.feed(b"x" * 60)
    assert info.value.limit == 100


def test_events_before_the_error_are_returned_and_the_error_raised_by_the_next_call():
    d = Decoder(50)
    big = b"data: " + b"x" * 100 + b"\n\n"
    assert d.feed(b"data: a\n\n" + big + b"data: b\n\n") == [Event("a")]
    with pytest.raises(SSEError):
        d.feed(b"data: c\n\n")
    # Nothing after the oversized event is lost: the held-back events come next.
    assert d.feed(b"data: d\n\n") == [Event("b"), Event("c"), Event("d")]
    assert d.close() == []


def test_error_pending_at_close_is_raised_by_close_then_events_follow():
    d = Decoder(50)
    big = b"data: " + b"x" * 100 + b"\n\n"
    assert d.feed(b"data: a\n\n" + big + b"data: b\n\n") == [Event("a")]
    with pytest.raises(SSEError):
        d.close()
    assert d.close() == [Event("b")]
    assert d.close() == []


def test_error_first_in_feed_is_raised_by_that_feed():
    d = Decoder(50)
    with pytest.raises(SSEError):
        d.feed(b"data: " + b"x" * 100 + b"\n\ndata: b\n\n")
    assert d.feed(b"") == [Event("b")]


def test_event_over_limit_from_many_small_lines():
    d = Decoder(100)
    body = b"data: 0123456789\n" * 20 + b"\n" + b"data: ok\n\n"
    with pytest.raises(SSEError) as info:
        d.feed(body)
    assert info.value.limit == 100
    assert "100" in str(info.value)
    assert d.close() == [Event("ok")]


def test_event_over_limit_from_type_and_data():
    d = Decoder(100)
    body = b"event: " + b"e" * 60 + b"\ndata: " + b"d" * 60 + b"\n\ndata: ok\n\n"
    with pytest.raises(SSEError):
        d.feed(body)
    assert d.close() == [Event("ok")]


def test_rest_of_oversized_event_is_skipped_and_next_event_is_clean():
    d = Decoder(100)
    body = (
        b"event: big\nid: 1\n"
        + b"data: "
        + b"x" * 200
        + b"\ndata: tail\nevent: still-big\n\n"
        + b"data: next\n\n"
    )
    with pytest.raises(SSEError):
        d.feed(body)
    (nxt,) = d.close()
    assert nxt.event == "message"
    assert nxt.data == "next"


def test_one_error_per_oversized_event():
    d = Decoder(50)
    body = (b"data: " + b"x" * 80 + b"\n") * 3 + b"\n" + b"data: after\n\n"
    with pytest.raises(SSEError):
        d.feed(body)
    assert d.feed(b"") == [Event("after")]
    assert d.close() == []


def test_two_oversized_events_give_two_errors():
    d = Decoder(50)
    big = b"data: " + b"x" * 80 + b"\n\n"
    assert d.feed(b"data: a\n\n" + big + b"data: b\n\n" + big + b"data: c\n\n") == [Event("a")]
    with pytest.raises(SSEError):
        d.feed(b"")
    assert d.feed(b"") == [Event("b")]
    with pytest.raises(SSEError):
        d.feed(b"")
    assert d.feed(b"") == [Event("c")]


def test_oversized_line_across_many_feeds_raises_once_and_recovers():
    d = Decoder(1000)
    assert d.feed(b"data: ") == []
    raised = 0
    for _ in range(50):
        try:
            assert d.feed(b"y" * 100) == []
        except SSEError:
            raised += 1
    assert raised == 1
    assert d.feed(b"\n\ndata: after\n\n") == [Event("after")]


def test_long_comment_line_counts_against_the_line_limit():
    d = Decoder(50)
    with pytest.raises(SSEError):
        d.feed(b": " + b"c" * 80 + b"\n\ndata: x\n\n")
    assert d.close() == [Event("x")]


def test_large_event_under_the_default_limit():
    payload = "z" * (2 * 2**20)
    assert decode(("data: " + payload + "\n\n").encode()) == [msg(payload)]


_MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    import sserpent

    def peak_kb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    piece = b"x" * 2**20
    d = sserpent.Decoder(max_event_size=2**20)
    d.feed(b"data: ")
    before = peak_kb()
    errors = 0
    for _ in range(100):  # a 100 MB line
        try:
            assert d.feed(piece) == []
        except sserpent.SSEError as e:
            assert e.limit == 2**20
            errors += 1
    assert errors == 1, errors
    after_events = d.feed(b"\\n\\ndata: after\\n\\n")
    assert [e.data for e in after_events] == ["after"], after_events
    print(peak_kb() - before)
    """
)


def test_100mb_line_with_1mb_limit_keeps_memory_small():
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    growth_kb = int(proc.stdout.strip())
    # Generous: buffering the line would take 100 MB; the limit allows ~1 MB per buffer.
    assert growth_kb < 24 * 1024, f"peak RSS grew by {growth_kb} KiB"
