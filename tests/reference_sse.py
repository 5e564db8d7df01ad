"""A small pure-Python reference of the WHATWG HTML "Interpreting an event stream" algorithm.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

It works on a whole byte stream at once and follows the text of the spec step by step, so
that it is obviously correct; the differential tests check :class:`sserpent.Decoder`
against it. No size limits are modelled.

- The stream is decoded with the UTF-8 decode algorithm: one leading BOM is stripped and
  invalid sequences become U+FFFD (Python's ``errors="replace"`` substitutes maximal
  subparts, as the Encoding standard does).
- Lines end with CRLF, a lone LF or a lone CR. A final line without a terminator is never
  processed: at the end of the stream pending data is discarded.
- One interpretation choice where the spec's words are not explicit: a ``retry`` field
  with an *empty* value is ignored ("consists of only ASCII digits" is read as "one or
  more ASCII digits"; an empty string cannot be "interpreted as an integer in base ten").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Tuple

_LINE = re.compile(r"\r\n|\r|\n")
_ASCII_DIGITS = frozenset("0123456789")

# (type, data, last event ID)
RefEvent = Tuple[str, str, str]


@dataclass
class Result:
    events: List[RefEvent] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None


def decode_stream(data: bytes) -> str:
    """The UTF-8 decode algorithm: strip one leading BOM, replace errors with U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def complete_lines(text: str) -> List[str]:
    """The lines of ``text`` that have a terminator (an unterminated tail is dropped)."""
    lines = []
    pos = 0
    for m in _LINE.finditer(text):
        lines.append(text[pos : m.start()])
        pos = m.end()
    return lines


def interpret(data: bytes) -> Result:
    """Every event the spec dispatches for the byte stream ``data`` (then end of stream)."""
    result = Result()
    data_buffer = ""
    event_type_buffer = ""
    last_event_id_buffer = ""

    for line in complete_lines(decode_stream(data)):
        # "If the line is empty (a blank line): Dispatch the event."
        if line == "":
            # Dispatch step 1: set the last event ID string from the buffer.
            result.last_event_id = last_event_id_buffer
            # Step 2: no data -> reset the buffers and return.
            if data_buffer == "":
                data_buffer = ""
                event_type_buffer = ""
                continue
            # Step 3: remove one trailing LF.
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            # Steps 4-6: type "message" unless the type buffer is non-empty.
            event_type = event_type_buffer if event_type_buffer != "" else "message"
            result.events.append((event_type, data_buffer, result.last_event_id))
            data_buffer = ""
            event_type_buffer = ""
            continue
        # "If the line starts with a U+003A COLON character (:): Ignore the line."
        if line.startswith(":"):
            continue
        # "If the line contains a U+003A COLON character": split at the first colon and
        # remove one leading U+0020 SPACE from the value.
        if ":" in line:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
        else:
            # "Otherwise": the whole line is the field name, the value is empty.
            name, value = line, ""

        # "Process the field" (names compared case-sensitively).
        if name == "event":
            event_type_buffer = value
        elif name == "data":
            data_buffer += value + "\n"
        elif name == "id":
            if "\0" not in value:
                last_event_id_buffer = value
        elif name == "retry":
            if value != "" and all(c in _ASCII_DIGITS for c in value):
                result.retry = int(value, 10)
        # Otherwise: the field is ignored.

    # End of file: any pending data is discarded (an incomplete event is not dispatched).
    return result
