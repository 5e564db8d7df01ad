#!/usr/bin/env python3
"""Writes the checked-in seed corpus fuzz/corpus/<target>/ from the wire samples
(tests/fixtures/wire/*.sse) and a few hand-made edge cases.

    python3 fuzz/seeds.py          # rewrites fuzz/corpus/ (seeds only)

Each target reads a small header before its payload (see the targets' doc
comments): sse_decoder `[limit][cuts][lengths...]`, pipeline
`[config][cuts][lengths...]`; chunk_parser takes the payload as it is, or two
payloads joined by a 0 byte (the second read against the first).
Inputs the fuzzer found are not kept here unless `scripts/fuzz.sh --merge`
adds them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIRE = ROOT / "tests" / "fixtures" / "wire"
CORPUS = ROOT / "fuzz" / "corpus"

BOM = b"\xef\xbb\xbf"


def header(first: int, lengths: list[int] = ()) -> bytes:
    return bytes([first, len(lengths)] + list(lengths))


def data_payloads(body: bytes) -> list[bytes]:
    """The data of every event of a stream (as the decoder joins it)."""
    if body.startswith(BOM):
        body = body[len(BOM) :]
    lines = re.split(rb"\r\n|\r|\n", body)
    out, data = [], []
    for line in lines:
        if not line:
            if data:
                out.append(b"\n".join(data))
            data = []
        elif line.startswith(b"data"):
            value = line[4:]
            if value[:1] == b":":
                value = value[1:]
                data.append(value[1:] if value[:1] == b" " else value)
            elif not value:
                data.append(b"")
    return out


SSE_EDGES = {
    "bom-split": header(0, [1, 1]) + BOM + b"data: a\n\n",
    "two-boms": header(0) + BOM + BOM + b"data: a\n\ndata: b\n\n",
    "partial-bom": header(0) + b"\xef\xbbdata: a\n\ndata: b\n\n",
    "crlf-split": header(0, [8]) + b"data: a\r\ndata: b\r\n\r\n",
    "lone-cr": header(0) + b"data: a\rdata: b\r\rid: 1\r\r",
    "fields": header(0) + b": c\nevent: e\ndata\ndata:x\ndata:  y\nid: 7\nretry: 99999999999999999999999\nfoo: bar\n\n",
    "id-nul": header(0) + b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid\n\ndata: c\n\n",
    "no-data-block": header(0) + b"event: foo\n\ndata: x\n\n",
    "unterminated": header(0) + b"data: a\n\ndata: b\nda",
    "utf8": header(0, [9]) + b"data: \xe3\x81\x82\xff\xe3\x81\ndata: \xf0\x9f\n\n",
    "long-line-small-limit": header(0x40 + 15, [10, 3]) + b"data: 0123456789012345678\n\ndata: ok\n\n",
    "event-too-large": header(0x40 + 15) + b"data: 0123456789\ndata: 0123456789\nevent: e\n\ndata: ok\n\n",
    "long-type-small-limit": header(0x40 + 7) + b"event: abcdefgh\n\ndata: 1\n\n",
    "long-comment-small-limit": header(0x40 + 3, [2]) + b": a long comment\ndata: 1\n\n",
    "limit-1": header(0x40) + b"data\n\nx\n\n\n",
}

JSON_EDGES = {
    "lone-high-surrogate": rb'"\ud800"',
    "lone-low-surrogate": rb'["\udc00x"]',
    "surrogate-pair": rb'{"k\u0065y":"\ud83d\ude00 \u00e9 \/ \b\f\n\r\t"}',
    "high-then-escape": rb'"\ud800\n"',
    "huge-exponent": b"[1e999,-1E-999,1.5e+308]",
    "ints": b"[0,-0,9223372036854775807,9223372036854775808,-9223372036854775809,18446744073709551616]",
    "floats": b"[0.1,-0.0,2.2250738585072011e-308,4.9e-324,1.7976931348623157e308]",
    "duplicate-keys": b'{"a":1,"a":{"b":[]},"a":"last"}',
    "escaped-duplicate-key": rb'{"a":1,"\u0061":2}',
    "nested-512": b"[" * 512 + b"1" + b"]" * 512,
    "nested-513": b"[" * 513 + b"]" * 513,
    "empty-containers-deep": b'{"a":' * 200 + b"{}" + b"}" * 200,
    "control-char": b'"a\x01b"',
    "del-char": b'"a\x7fb"',
    "whitespace": b' \t\r\n{ "a" : [ 1 , true , false , null ] } \n',
    "trailing-data": b"{} {}",
    "invalid-escape": rb'"\x"',
    "short-u-escape": rb'"\u12"',
    "leading-zero": b"[01]",
    "bare-minus": b"-",
    "nan": b"[NaN,Infinity]",
    "empty": b"",
    "bom": BOM + b"{}",
    "long-string": b'"' + b"abcdefgh" * 20 + rb"\n" + b"\xe3\x81\x82" * 5 + b'"',
    "done": b"[DONE]",
}

PIPELINE_EDGES = {
    "events-done": header(0) + b"data: x\n\ndata: [DONE]\n\ndata: y\n\n",
    "chunks-error-object": header(1) + b'data: {"error":{"message":"boom","type":"server_error"}}\n\n',
    "chunks-error-string": header(1) + b'data: {"error":"plain"}\n\n',
    "chunks-error-null": header(1) + b'data: {"error":null,"choices":[]}\n\n',
    "chunks-error-event-text": header(1) + b"event: error\ndata: not json\n\n",
    "chunks-response-failed": header(1)
    + b'event: response.failed\ndata: {"response":{"error":{"message":"m","type":"t"}}}\n\n',
    "chunks-invalid-json": header(1) + "data: {nope é \u3042 ".encode() * 8 + b"\n\n",
    "chunks-cut-event": header(1) + b'data: {"text":"a"}\n\ndata: {"te',
    "chunks-require-events-empty": header(1 | 0x10) + b": only a comment\n\n",
    "chunks-done-ending": header(1 | 2 << 1) + b'data: {"text":"a"}\n\n',
    "chunks-message-stop": header(1)
    + b'event: message_start\ndata: {"type":"message_start",'
    + b'"message":{"usage":{"input_tokens":9223372036854775807}}}\n\n'
    + b'event: message_delta\ndata: {"usage":{"output_tokens":1}}\n\n',
    "chunks-usage-overflow": header(1)
    + b'data: {"choices":[],"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}}\n\n',
    "chunks-tool-calls": header(1)
    + b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":['
    + b'{"index":0,"id":"c","function":{"name":"f","arguments":"{"}},{"function":{"arguments":"}"}}]}}]}\n\n'
    + b'data: {"object":"","choices":[{"index":1,"delta":{"content":"x","refusal":"r"}}]}\n\n',
    "chunks-oci-tool-calls": header(1)
    + b'data: {"message":{"role":"ASSISTANT","content":[{"text":"a"},1],"toolCalls":'
    + b'[{"id":"x","name":"n","arguments":"{}"},{"arguments":"1"}]},"finishReason":"stop",'
    + b'"usage":{"promptTokens":1}}\n\n',
    "chunks-escaped-keys": header(1)
    + rb'data: {"obj\u0065ct":"chat.completion.chun\u006b","choices":[{"delta":{"cont\u0065nt":"\u00e9"}}]}'
    + b"\n\n"
    + rb'data: {"\u0065rror":{"message":"x"}}'
    + b"\n\n",
    "chunks-small-limit": header(1 | 1 << 5, [5, 7]) + b'data: {"text":"0123456789012345"}\n\ndata: {"text":"a"}\n\n',
}


def write(target: str, name: str, data: bytes) -> None:
    (CORPUS / target).mkdir(parents=True, exist_ok=True)
    (CORPUS / target / name).write_bytes(data)


def main() -> None:
    shutil.rmtree(CORPUS, ignore_errors=True)
    for path in sorted(WIRE.glob("*.sse")):
        body = path.read_bytes()
        stem = path.stem
        # Whole streams: default limit, fed whole; and a small limit in a few pieces.
        write("sse_decoder", f"wire-{stem}", header(0) + body)
        write("sse_decoder", f"wire-{stem}-limit64-cut", header(0x40 + 63, [1, 2, 3, 200, 0, 17]) + body)
        # Chunks mode learning the ending, and events mode in pieces.
        write("pipeline", f"wire-{stem}-chunks", header(1) + body)
        write("pipeline", f"wire-{stem}-events-cut", header(0, [3, 50, 1]) + body)
        # Consecutive payloads, the second read against the first (chunk_parser's 0 byte).
        payloads = data_payloads(body)
        for i, (old, new) in enumerate(zip(payloads, payloads[1:])):
            if i < 6 and old != new:
                write("chunk_parser", f"pair-{stem}-{i:02}", old + b"\0" + new)
        seen = set()
        for i, payload in enumerate(payloads):
            if payload in seen:
                continue
            seen.add(payload)
            write("chunk_parser", f"wire-{stem}-{i:02}", payload)
    for name, data in SSE_EDGES.items():
        write("sse_decoder", f"edge-{name}", data)
    for name, data in JSON_EDGES.items():
        write("chunk_parser", f"edge-{name}", data)
    for name, data in PIPELINE_EDGES.items():
        write("pipeline", f"edge-{name}", data)


if __name__ == "__main__":
    main()
