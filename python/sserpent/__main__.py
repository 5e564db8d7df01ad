"""Command line: ``python -m sserpent COMMAND``.

Commands:

- ``mock-server``: run the embedded mock LLM server until Ctrl-C;
- ``chat``: stream a chat completion to the terminal (see ``_chat.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Callable, Sequence

import sserpent

from ._chat import add_chat
from ._sserpent import MockServer  # not from .testing, which imports pytest

Handler = Callable[[argparse.Namespace], int]


def _mock_server(args: argparse.Namespace) -> int:
    try:
        server = MockServer(host=args.host, port=args.port)
    except OSError as e:
        print(f"sserpent mock server: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        print(f"sserpent mock server listening on {server.url}", flush=True)
        print(f"  OpenAI base URL: {server.base_url} (any API key)", flush=True)
        print("  Press Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)
    print("sserpent mock server stopped", flush=True)
    return 0


def _add_mock_server(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "mock-server",
        help="run the embedded mock LLM server until Ctrl-C",
        description=(
            "Serve OpenAI, Azure OpenAI, Anthropic and OCI style responses (streamed or not) "
            "from sserpent's embedded mock server. Request headers x-mock-chunks, "
            "x-mock-interval-ms and x-mock-timestamps set the load."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    p.set_defaults(handler=_mock_server)


# --- chat subcommand -------------------------------------------------------------------------
# `python -m sserpent chat "prompt"` (issue 3, item 8) lives in `_chat.py`, owned by the chat
# feature; `add_chat` registers it in `build_parser` below, next to `_add_mock_server`.
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sserpent", description="sserpent command line")
    parser.add_argument("--version", action="version", version=f"sserpent {sserpent.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_mock_server(commands)
    add_chat(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
