"""Helpers for the FastAPI, notebook and browser tests.

- ``load_example(name)``: imports ``examples/NAME.py`` as a module (the examples are not a package).
- ``serve_app(app)``: runs an ASGI app under a real uvicorn server on a free loopback port, in a
  thread; yields its base URL (``http://127.0.0.1:PORT``) and stops it afterwards.
- ``raw_post(url, path, body, headers)``: a raw-socket HTTP/1.1 POST, for clients that vanish
  mid-response; ``read_until(sock, marker, timeout)``.
- ``wait_until(predicate, timeout)``: polls until true.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, Optional
from urllib.parse import urlsplit

import uvicorn

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def load_example(name: str) -> ModuleType:
    """``examples/NAME.py`` as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def serve_app(app: Any, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a free port), in a daemon thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    errors: list = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # surfaced by the wait below
            errors.append(e)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start: {errors!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"uvicorn did not start within {startup_timeout:.0f} s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def raw_post(
    url: str, path: str, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None
) -> socket.socket:
    """Sends a POST with a JSON body over a new socket and returns the socket, unread."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    data = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(data)}",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    """Reads from ``sock`` until ``marker`` has been received (or fails after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{marker!r} not received within {timeout} s; got {buf!r}")
        sock.settimeout(left)
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before {marker!r}; got {buf!r}")
        buf += piece
    return buf


# --- headless Chromium over the DevTools protocol --------------------------------------------


def chromium_path() -> str:
    """Debian's ``chromium`` (installed by scripts/test.sh when missing)."""
    import shutil

    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is not installed (scripts/test.sh installs Debian's chromium package)")


class Page:
    """One browser tab driven over the Chrome DevTools Protocol (a websocket, flat JSON-RPC)."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = 0
        self.events: list = []

    def call(self, method: str, timeout: float = 10.0, **params: Any) -> Dict[str, Any]:
        self._ids += 1
        msg_id = self._ids
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"CDP {method} got no answer within {timeout} s")
            msg = json.loads(self._ws.recv(timeout=left))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expression: str, timeout: float = 10.0) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = self.call(
            "Runtime.evaluate", timeout=timeout, expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str, timeout: float = 10.0) -> None:
        self.call("Page.navigate", url=url)
        if not wait_until(lambda: self.evaluate("document.readyState") == "complete", timeout):
            raise TimeoutError(f"{url} did not load within {timeout} s")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) in the middle of the element."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: str) -> None:
        import base64

        Path(path).write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))


@contextmanager
def chromium_page(startup_timeout: float = 30.0) -> Iterator[Page]:
    """Starts headless Chromium with a fresh profile and yields a :class:`Page` on a blank tab."""
    import subprocess
    import tempfile
    import urllib.request

    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory(
        # Chromium's helper processes may still write to the profile as the browser exits.
        prefix="sserpent-chromium-", ignore_cleanup_errors=True
    ) as profile:
        proc = subprocess.Popen(
            [
                chromium_path(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                # No traffic but to the page under test: no updates, sync, metrics or safe browsing.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
                "--no-pings",
                "--metrics-recording-only",
                "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
                "InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater,AutofillServerCommunication",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--window-size=1024,768",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            if not wait_until(
                lambda: port_file.exists() and port_file.read_text().count("\n") >= 1, startup_timeout, 0.05
            ):
                raise TimeoutError("chromium did not open its DevTools port")
            port = int(port_file.read_text().splitlines()[0])
            base = f"http://127.0.0.1:{port}"
            targets: list = []

            def find_page() -> bool:
                with urllib.request.urlopen(f"{base}/json/list", timeout=5) as r:
                    targets[:] = [t for t in json.load(r) if t.get("type") == "page"]
                return bool(targets)

            if not wait_until(find_page, startup_timeout, 0.05):
                raise TimeoutError("chromium opened no page")
            with connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                page = Page(ws)
                page.call("Page.enable")
                page.call("Runtime.enable")
                yield page
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()
