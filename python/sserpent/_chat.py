"""``python -m sserpent chat "prompt"``: stream a chat completion to the terminal.

Uses ``OPENAI_API_KEY`` (and ``OPENAI_BASE_URL``, ``--model`` / ``OPENAI_MODEL``) when set;
otherwise starts sserpent's embedded mock server and streams from it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Optional

from ._errors import APIError
from ._sserpent import Client, MockServer  # not from .testing, which imports pytest

DEFAULT_MODEL = "gpt-4o-mini"


def _metrics_line(m: Any) -> str:
    def ms(v: Optional[float]) -> str:
        return "-" if v is None else f"{v * 1e3:.0f} ms"

    rate = m.chunks_per_second
    rate_s = "-" if rate is None else f"{rate:.1f}/s"
    return (
        f"[sserpent] first token {ms(m.time_to_first_token)} · {m.chunks} chunks · {rate_s} · "
        f"{m.bytes_received:,} bytes · total {ms(m.duration)}"
    )


def run_chat(args: argparse.Namespace) -> int:
    prompt = " ".join(args.prompt) or "Tell me about server-sent events."
    api_key = os.environ.get("OPENAI_API_KEY")
    server = None
    headers = {}
    if api_key:
        base_url = args.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        headers["authorization"] = f"Bearer {api_key}"
    else:
        server = MockServer()
        base_url = server.base_url
        # Pace the mock like a model so the streaming is visible.
        headers.update({"x-mock-chunks": str(args.mock_chunks), "x-mock-interval-ms": str(args.mock_interval_ms)})
        print(f"[sserpent] OPENAI_API_KEY is not set: streaming from the embedded mock server at {base_url}",
              file=sys.stderr, flush=True)
    model = args.model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    client = Client(base_url=base_url)
    try:
        with client.stream("POST", "/chat/completions", json=body, headers=headers) as stream:
            for text in stream.text():
                sys.stdout.write(text)
                sys.stdout.flush()
            sys.stdout.write("\n")
            print(_metrics_line(stream.metrics), file=sys.stderr, flush=True)
    except APIError as e:
        print(f"\n[sserpent] {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[sserpent] interrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.close()
    return 0


def add_chat(commands: Any) -> None:
    p = commands.add_parser(
        "chat",
        help="stream a chat completion to the terminal",
        description=(
            "Stream a chat completion to the terminal, then print one metrics line. Uses "
            "OPENAI_API_KEY / OPENAI_BASE_URL when set, else the embedded mock server."
        ),
    )
    p.add_argument("prompt", nargs="*", help="the user message")
    p.add_argument("--model", help=f"model name (default: $OPENAI_MODEL or {DEFAULT_MODEL})")
    p.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL or OpenAI's)")
    p.add_argument("--mock-chunks", type=int, default=48, help="mock server: content chunks (default: %(default)s)")
    p.add_argument("--mock-interval-ms", type=float, default=25.0,
                   help="mock server: pause between chunks (default: %(default)s)")
    p.set_defaults(handler=run_chat)
