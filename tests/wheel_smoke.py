"""The built wheel, tested as a user installs it (scripts/test.sh runs this after the one build).

    python tests/wheel_smoke.py --wheel dist/sserpent-V-cp39-abi3-PLATFORM.whl \\
        --expect-tag cp39-abi3-manylinux_2_17_x86_64 --notebook oldest,newest PYTHON...

First the wheel itself: its name's version is Cargo.toml's, it carries the tag asked for, and
its files and metadata are what a user gets (the extension, the stubs, ``py.typed``, the
license, no dependencies, the extras). Then, for each interpreter given (those older than the
package's ``requires-python`` are reported and skipped), in a fresh venv in a temporary folder:
pip installs the wheel from its file with nothing else on offer (pip refuses a wheel whose tags
the interpreter does not support), and this file, copied next to nothing, runs as
``--inside`` under the venv's Python, from that folder, with no ``PYTHONPATH``, no user site,
and no Rust toolchain on ``PATH``. There it checks:

- ``sserpent`` and its extension load from the venv's site-packages, and no ``sys.path`` entry
  is in the source tree;
- ``sserpent.__version__`` and ``python -m sserpent --version`` give the wheel's version;
- a sync and an async chat stream from the embedded mock server give the text a plain stdlib
  HTTP client reads from the same server (so the extension's HTTP, SSE and JSON all ran);
- attribute and item access on chunks with ASCII, non-ASCII, long and lone-surrogate keys (the
  limited-API paths of ``src/py/values.rs``: on 3.9 they differ from 3.10 and later);
- the step of a ready ``await`` (``src/py/ready.rs``: ``am_send`` on 3.10 and 3.11, one
  ``StopIteration`` raised again on 3.12 and 3.13): values, caught exceptions, references;
- for the ``--notebook`` interpreters (``oldest``, ``newest``, ``all`` or versions), with
  nbclient and ipykernel installed from the package index: ``examples/notebook.ipynb`` run
  top to bottom in a real kernel of that venv, without errors, its loops printing that text.

Prints one line per interpreter and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
MIN_PYTHON = (3, 9)
# What every smoke check asks the mock for (the notebook sets its own pacing).
PACING = {"x-mock-chunks": "12"}
MESSAGES = [{"role": "user", "content": "Hello!"}]


class SmokeError(Exception):
    """A check failed; the message says which and why."""


# --- the wheel file ------------------------------------------------------------------------


def cargo_version(cargo_toml: Path = ROOT / "Cargo.toml") -> str:
    """``[package] version`` of Cargo.toml, as the PEP 440 version maturin puts in the wheel."""
    text = cargo_toml.read_text(encoding="utf-8")
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    m = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M)
    if not m:
        raise SmokeError(f"{cargo_toml}: no [package] version")
    from packaging.version import Version

    return str(Version(m.group(1)))


def wheel_tags(wheel: Path) -> Tuple[str, str, set]:
    """The distribution name, version and tag set of a wheel, from its file name."""
    from packaging.utils import parse_wheel_filename

    name, version, _build, tags = parse_wheel_filename(wheel.name)
    return str(name), str(version), {str(t) for t in tags}


def check_wheel(wheel: Path, expect_version: str, expect_tags: Sequence[str]) -> None:
    """The wheel's name, tags, files and metadata; raises SmokeError on the first mismatch."""
    if not wheel.is_file():
        raise SmokeError(f"no wheel at {wheel}")
    name, version, tags = wheel_tags(wheel)
    if name != "sserpent":
        raise SmokeError(f"{wheel.name}: distribution {name!r}, not 'sserpent'")
    if version != expect_version:
        raise SmokeError(f"{wheel.name}: version {version}, but Cargo.toml says {expect_version}")
    for tag in expect_tags:
        if tag not in tags:
            raise SmokeError(f"{wheel.name}: tags {sorted(tags)} lack {tag}")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        dist_info = f"sserpent-{version}.dist-info"
        wheel_meta = z.read(f"{dist_info}/WHEEL").decode()
        metadata = z.read(f"{dist_info}/METADATA").decode()
    inner_tags = {line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")}
    if inner_tags != tags:
        raise SmokeError(f"{wheel.name}: WHEEL says tags {sorted(inner_tags)}, the file name {sorted(tags)}")
    abi3 = any(t.split("-")[1] == "abi3" for t in tags)
    extension = re.compile(r"sserpent/_sserpent(\.abi3)?\.(so|pyd)$" if abi3 else r"sserpent/_sserpent\..*\.(so|pyd)$")
    wanted = {
        "extension module": lambda n: bool(extension.search(n)),
        "sserpent/__init__.py": lambda n: n == "sserpent/__init__.py",
        "stubs (sserpent/_sserpent.pyi)": lambda n: n == "sserpent/_sserpent.pyi",
        "sserpent/py.typed": lambda n: n == "sserpent/py.typed",
        "LICENSE in the dist-info": lambda n: n.startswith(dist_info + "/") and n.endswith("LICENSE"),
    }
    for what, present in wanted.items():
        if not any(present(n) for n in names):
            raise SmokeError(f"{wheel.name}: no {what}")
    stray = [n for n in names if n.startswith(("tests/", "src/", "target/", "fuzz/")) or n.endswith(".rs")]
    if stray:
        raise SmokeError(f"{wheel.name}: holds source-tree files: {stray[:5]}")
    fields: Dict[str, List[str]] = {}
    for line in metadata.split("\n\n", 1)[0].splitlines():
        if ": " in line and not line.startswith(" "):
            key, value = line.split(": ", 1)
            fields.setdefault(key, []).append(value)
    core = [r for r in fields.get("Requires-Dist", []) if "extra ==" not in r]
    if core:
        raise SmokeError(f"{wheel.name}: the core package depends on {core}")
    for extra in ("fastapi", "notebook", "test"):
        if extra not in fields.get("Provides-Extra", []):
            raise SmokeError(f"{wheel.name}: no extra [{extra}]")
    for minor in range(MIN_PYTHON[1], 14):
        classifier = f"Programming Language :: Python :: 3.{minor}"
        if classifier not in fields.get("Classifier", []):
            raise SmokeError(f"{wheel.name}: no classifier {classifier!r}")
    if fields.get("Requires-Python") != [">=3.9"]:
        raise SmokeError(f"{wheel.name}: Requires-Python {fields.get('Requires-Python')}")
    if not fields.get("Project-URL") or not (fields.get("Author") or fields.get("Author-email")):
        raise SmokeError(f"{wheel.name}: no Project-URL or author in the metadata")


# --- one interpreter -----------------------------------------------------------------------


def interpreter_info(python: str) -> Tuple[str, Tuple[int, int], str]:
    """Implementation name, (major, minor) and full version of an interpreter."""
    code = "import sys, platform; print(platform.python_implementation(), *sys.version_info[:3])"
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SmokeError(f"{python} does not run: {out.stderr.strip()[-300:]}")
    impl, major, minor, micro = out.stdout.split()
    return impl, (int(major), int(minor)), f"{major}.{minor}.{micro}"


RUST_TOOLS = ("cargo", "rustc", "rustup")


def clean_env(venv_bin: Path) -> Dict[str, str]:
    """The environment of a user's shell in the venv: no PYTHONPATH or PYTHONHOME, no user
    site, no Rust toolchain on PATH (directories that hold cargo, rustc or rustup are left
    out); pip's own settings (certificates, cache, index) are kept."""
    keep = {"HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "TERM"}
    # What Windows programs need to start, find temp folders and pip's cache.
    keep |= {"SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP"}
    keep |= {"USERPROFILE", "APPDATA", "LOCALAPPDATA"}
    env = {k: v for k, v in os.environ.items() if k.upper() in keep or k.upper().startswith("PIP_")}
    exe = ("", ".exe") if os.name == "nt" else ("",)
    path = [str(venv_bin)]
    for d in os.environ.get("PATH", "").split(os.pathsep):
        rust_here = any(os.path.exists(os.path.join(d, t + x)) for t in RUST_TOOLS for x in exe)
        if d and d != str(venv_bin) and not rust_here:
            path.append(d)
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Jupyter's and IPython's per-user folders inside the venv: no user's kernelspec named
    # python3 is found before the venv's, and nothing is written to the user's home.
    dirs = {"JUPYTER_DATA_DIR": "jupyter-data", "JUPYTER_CONFIG_DIR": "jupyter-config", "IPYTHONDIR": "ipython"}
    for var, sub in dirs.items():
        env[var] = str(venv_bin.parent / sub)
    return env


def run(cmd: Sequence[str], env: Dict[str, str], cwd: Path, timeout: float, what: str) -> str:
    try:
        out = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise SmokeError(f"{what}: no result in {timeout:.0f} s") from e
    if out.returncode != 0:
        tail = (out.stdout + out.stderr).strip().splitlines()[-15:]
        raise SmokeError(f"{what} failed (exit {out.returncode}):\n      " + "\n      ".join(tail))
    return out.stdout


def smoke_one(python: str, wheel: Path, version: str, notebook: bool, work: Path) -> str:
    """Installs the wheel into a fresh venv of ``python`` and runs the checks there; returns
    what ran. Raises SmokeError."""
    venv = work / "venv"
    subprocess.run([python, "-I", "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    venv_bin = venv / ("Scripts" if os.name == "nt" else "bin")
    vpy = venv_bin / ("python.exe" if os.name == "nt" else "python")
    env = clean_env(venv_bin)
    cwd = work / "cwd"
    cwd.mkdir()
    pip = [str(vpy), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    # The file itself and nothing else: no index to fall back on, no sdist to build.
    run([*pip, "--no-index", "--only-binary", ":all:", str(wheel)], env, cwd, 300, "pip install of the wheel")
    if notebook:
        run([*pip, "nbclient>=0.10", "ipykernel>=6.29"], env, cwd, 600, "pip install nbclient ipykernel")
    inside = cwd.parent / "smoke_inside" / "wheel_smoke.py"
    inside.parent.mkdir()
    shutil.copy(__file__, inside)
    cmd = [str(vpy), str(inside), "--inside", "--expect-version", version, "--source-tree", str(ROOT)]
    if notebook:
        shutil.copy(NOTEBOOK, cwd / "notebook.ipynb")
        cmd += ["--notebook-file", str(cwd / "notebook.ipynb")]
    out = run(cmd, env, cwd, 600, "the checks in the venv")
    return out.strip().splitlines()[-1] if out.strip() else ""


# --- inside the fresh venv -----------------------------------------------------------------


def reference_text(base_url: str, headers: Dict[str, str]) -> Tuple[str, int]:
    """The streamed reply's text and chunk count, read with urllib and a line split."""
    import urllib.request

    body = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}).encode()
    req = urllib.request.Request(
        base_url + "/chat/completions",
        data=body,
        headers={"content-type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read().decode()
    text, chunks = [], 0
    for line in raw.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[len("data: ") :])
            chunks += 1
            for choice in chunk.get("choices", []):
                text.append(choice.get("delta", {}).get("content") or "")
    if chunks < 3 or not "".join(text):
        raise SmokeError(f"the mock's reply read with urllib has {chunks} chunks: {raw[:200]!r}")
    return "".join(text), chunks


def check_location(module_file: str, prefix: str, source_tree: Optional[str]) -> None:
    """``module_file`` must be in the venv's site-packages, not in the source tree."""
    paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
    site = {os.path.realpath(paths[k]) for k in ("purelib", "platlib")}
    real = os.path.realpath(module_file)
    if not any(real.startswith(s + os.sep) for s in site):
        raise SmokeError(f"{module_file} is not in the venv's site-packages ({', '.join(sorted(site))})")
    if source_tree and real.startswith(os.path.realpath(source_tree) + os.sep):
        raise SmokeError(f"{module_file} is in the source tree {source_tree}")


def check_inside(expect_version: str, source_tree: Optional[str], notebook_file: Optional[str]) -> str:
    if sys.prefix == sys.base_prefix:
        raise SmokeError(f"not in a venv: sys.prefix is {sys.prefix}")
    for tool in RUST_TOOLS:
        if shutil.which(tool):
            raise SmokeError(f"{tool} is on PATH: {shutil.which(tool)}")
    if os.environ.get("PYTHONPATH"):
        raise SmokeError(f"PYTHONPATH is set: {os.environ['PYTHONPATH']}")
    if source_tree:
        tree = os.path.realpath(source_tree)
        on_path = [p for p in sys.path if p and os.path.realpath(p).startswith(tree + os.sep)]
        if on_path or os.path.realpath(os.getcwd()).startswith(tree + os.sep):
            raise SmokeError(f"the source tree is on sys.path or the working directory: {on_path}")

    import sserpent

    check_location(sserpent.__file__, sys.prefix, source_tree)
    import sserpent._sserpent
    from sserpent.testing import MockServer

    check_location(sserpent._sserpent.__file__, sys.prefix, source_tree)
    if not os.path.exists(os.path.join(os.path.dirname(sserpent.__file__), "py.typed")):
        raise SmokeError("no py.typed next to sserpent/__init__.py")

    from importlib.metadata import version

    if sserpent.__version__ != expect_version or version("sserpent") != expect_version:
        raise SmokeError(
            f"sserpent.__version__ {sserpent.__version__}, metadata {version('sserpent')}, not {expect_version}"
        )
    cli = subprocess.run([sys.executable, "-m", "sserpent", "--version"], capture_output=True, text=True, timeout=60)
    if cli.returncode != 0 or cli.stdout.strip() != f"sserpent {expect_version}":
        raise SmokeError(f"python -m sserpent --version: exit {cli.returncode}, {cli.stdout!r} {cli.stderr[-300:]!r}")

    with MockServer() as server:
        want, want_chunks = reference_text(server.base_url, PACING)
        client = sserpent.OpenAI(base_url=server.base_url, api_key="mock", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=PACING
        )
        sync_chunks = list(stream)
        sync_text = "".join(c.choices[0].delta.content or "" for c in sync_chunks if c.choices)

        async def read_async() -> Tuple[str, int]:
            aclient = sserpent.AsyncOpenAI(base_url=server.base_url, api_key="mock", max_retries=0)
            astream = await aclient.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=PACING
            )
            parts, n = [], 0
            async for chunk in astream:
                n += 1
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
            return "".join(parts), n

        async_text, async_chunks = asyncio.run(read_async())
    if (sync_text, len(sync_chunks)) != (want, want_chunks):
        raise SmokeError(f"sync stream: {len(sync_chunks)} chunks {sync_text!r}, urllib read {want_chunks} {want!r}")
    if (async_text, async_chunks) != (want, want_chunks):
        raise SmokeError(f"async stream: {async_chunks} chunks {async_text!r}, urllib read {want_chunks} {want!r}")

    check_chunk_access(sserpent)
    with MockServer() as server:
        check_ready_steps(sserpent, server.base_url)
    # Chunk objects are made without pyo3's constructor where its layout allows
    # (src/py/alloc.rs): on this interpreter it must, or every chunk pays the slower path.
    direct = dict(sserpent._sserpent._fast_alloc())
    slow = [name for name, made in direct.items() if made is False]
    if slow or direct["Chunk"] is not True:
        raise SmokeError(f"objects made through pyo3's slower path on this interpreter: {direct}")

    ran = f"sync+async {want_chunks} chunks"
    if notebook_file:
        run_notebook(notebook_file, want)
        ran += ", notebook"
    return ran


def check_chunk_access(sserpent) -> None:  # type: ignore[no-untyped-def]
    """Keys that take each path of the bindings' str reading."""
    long_key = "k" * 100
    doc = {"content": "hi", "ключ": 1, long_key: 2, "a": {"b": "c"}}
    body = ("data: " + json.dumps(doc) + "\n\ndata: [DONE]\n\n").encode()
    [chunk] = list(sserpent.iter_chunks([body]))
    checks = [
        (chunk.content, "hi"),
        (chunk["content"], "hi"),
        (chunk["ключ"], 1),
        (chunk.ключ, 1),
        (chunk[long_key], 2),
        (getattr(chunk, long_key), 2),
        (chunk.a.b, "c"),
        (chunk.get("\ud800", "absent"), "absent"),
        ("\ud800" in chunk, False),
    ]
    for got, expected in checks:
        if got != expected:
            raise SmokeError(f"chunk access: {got!r}, expected {expected!r} (checks {checks})")
    try:
        _ = chunk.missing
    except AttributeError:
        pass
    else:
        raise SmokeError("chunk.missing did not raise AttributeError")


def check_ready_steps(sserpent, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """The step of an awaitable whose value is there (``_Ready``) ends in ``StopIteration``
    wherever the interpreter does not take ``am_send``; on 3.12 and 3.13 that is one object raised
    again (``src/py/stop_iteration.rs``) while nothing else holds it. Every value arrives
    as itself, a caught exception keeps its value, and no value outlives its step there."""
    ext = sserpent._sserpent
    reused = ext._stop_iteration_reused()[0]
    if reused != ((3, 12) <= sys.version_info[:2] < (3, 14)):
        raise SmokeError(f"StopIteration reused: {reused} on {sys.version_info[:2]}")
    client = sserpent.Client(base_url=base_url)
    body = {"model": "m", "stream": True, "messages": []}
    stream = client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": "3"})

    def step(awaitable):  # type: ignore[no-untyped-def]
        try:
            next(awaitable.__await__())
        except StopIteration as stop:
            return stop
        raise SmokeError("a ready awaitable's step did not stop")

    first = step(stream.__aenter__())  # caught, kept, raised through next(): a traceback
    second = step(stream.__aexit__(None, None, None))
    if first.value is not stream or second.value is not False or first is second:
        raise SmokeError(f"StopIteration values {first.value!r}, {second.value!r}; same object: {first is second}")
    # It reads as StopIteration(value) would: its args, repr and copies carry the value.
    if first.args != (stream,) or second.args != (False,) or repr(second) != "StopIteration(False)" \
            or copy.copy(first).value is not stream or pickle.loads(pickle.dumps(second)).value is not False:
        raise SmokeError(f"StopIteration args {first.args!r}, {second.args!r}, repr {second!r}")
    del first, second
    # Inside an except block, the handled exception is its __context__, as for any raise.
    try:
        raise ZeroDivisionError("being handled")
    except ZeroDivisionError as handled:
        inside = step(stream.__aexit__(None, None, None))
        if inside.__context__ is not handled or inside.value is not False:
            raise SmokeError(f"StopIteration in an except block: context {inside.__context__!r}") from None
        del inside
    # Its awaitable freed while the exception is still on its way (a one-line send()):
    # once the exception is let go of, nothing here holds the value any more.
    before = sys.getrefcount(stream)
    try:
        stream.__aenter__().send(None)
    except StopIteration as stop:
        if stop.value is not stream:
            raise SmokeError("send() on a ready awaitable did not stop with its value") from None
    if sys.getrefcount(stream) != before:
        raise SmokeError(f"the stream's references after a send(): {sys.getrefcount(stream)}, {before} before")
    check_steps_by_hand(client, body)

    async def read(n: int):  # type: ignore[no-untyped-def]
        s = client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": str(n)})
        before = sys.getrefcount(s)
        for _ in range(1000):
            if await s.__aenter__() is not s:
                raise SmokeError("await stream.__aenter__() is not the stream")
        if sys.getrefcount(s) != before:
            raise SmokeError(f"the stream's references: {sys.getrefcount(s)} after 1000 awaits, {before} before")
        texts, last = [], None
        async for chunk in s:
            texts.append(chunk.choices[0].delta.content if chunk.choices else None)
            last = chunk
        del chunk
        # Held by this local only (as `alone` is): not by a StopIteration kept for reuse.
        alone = object()
        if sys.getrefcount(last) != sys.getrefcount(alone):
            raise SmokeError(f"the last chunk has {sys.getrefcount(last)} references after its step, "
                             f"a local alone {sys.getrefcount(alone)}")
        return texts

    plain = [c.choices[0].delta.content if c.choices else None
             for c in client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": "300"})]
    made = ext._stop_iteration_reused()[2]
    got = asyncio.run(read(300))
    if got != plain:
        raise SmokeError(f"async for read {len(got)} chunks unlike the sync read's {len(plain)}")
    # On 3.12 and 3.13 one object for the 1,300 ready steps (a second if the first was kept).
    made = ext._stop_iteration_reused()[2] - made
    if (reused and not 1 <= made <= 2) or (not reused and made):
        raise SmokeError(f"{made} StopIteration objects made to be raised again over 1,300 steps")
    if sys.version_info >= (3, 12):
        check_ready_steps_monitored(sserpent, client, body)
    stream.close()


def check_steps_by_hand(client, body) -> None:  # type: ignore[no-untyped-def]
    """Awaitables stepped from Python code (``next(aw.__await__())``) get a new exception each
    time: one kept by a traceback (with the frame holding the awaitable and its stream) is
    never kept by sserpent after the caller let go of it; a caught one changed by its catcher
    breaks nothing; a stream freed while an exception unwinds runs its end hook and leaves
    that exception alone."""
    mk = lambda: client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": "3"})  # noqa: E731
    ended = []

    def stepped(aw, step):  # type: ignore[no-untyped-def]
        try:
            step(aw)  # `aw` a local of this frame, which the exception's traceback keeps
        except StopIteration as stop:
            return stop.value

    # Through `__await__()` (a reference of its own), and `next(aw)` on the awaitable, its own
    # iterator (the local's reference alone, borrowed on 3.14).
    for how, step in (("next(aw.__await__())", lambda aw: next(aw.__await__())), ("next(aw)", next)):
        s = mk()
        s._on_end(lambda *a, how=how: ended.append(how), False)
        if stepped(s.__aenter__(), step) is not s:
            raise SmokeError(f"{how} on a ready awaitable did not stop with its value")
        del s
        gc.collect()
        if ended[-1:] != [how]:
            raise SmokeError(f"a stream stepped by {how} stayed alive after everything let go of it")

    s = mk()
    aw = s.__aenter__()
    try:
        next(aw.__await__())
    except StopIteration as stop:
        stop.__traceback__ = None
        stop.value = "changed"
    del s, aw
    other = mk()
    for _ in range(3):
        try:
            next(other.__aexit__(None, None, None).__await__())
        except StopIteration as stop:
            if stop.value is not False or stop.args != (False,):
                raise SmokeError(f"after a caught exception was changed: {stop.value!r} {stop.args!r}") from None

    def hooked():  # type: ignore[no-untyped-def]
        t = mk()
        t._on_end(lambda *a: ended.append("unwound"), False)
        return t

    try:
        # The stream, a value on the stack, is freed as the exception unwinds this frame.
        print(hooked(), 1 / 0)
    except ZeroDivisionError as e:
        if str(e) != "division by zero":
            raise SmokeError(f"the exception a freed stream's end hook ran under: {e!r}") from None
    if ended[-1:] != ["unwound"]:
        raise SmokeError(f"end hooks run: {ended}")


def check_ready_steps_monitored(sserpent, client, body) -> None:  # type: ignore[no-untyped-def]
    """A tool watching raised exceptions (``sys.monitoring``, as debuggers and coverage do
    on 3.12+) keeps each ``StopIteration`` of ``async for``: each is its own object and
    keeps its own chunk."""
    mon = sys.monitoring  # type: ignore[attr-defined]
    tool = next(t for t in range(6) if mon.get_tool(t) is None)
    kept = []
    mon.use_tool_id(tool, "sserpent smoke")
    mon.register_callback(tool, mon.events.RAISE,
                          lambda code, offset, exc: kept.append(exc) if isinstance(exc, StopIteration) else None)

    async def read():  # type: ignore[no-untyped-def]
        s = client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": "50"})
        await s.__aenter__()
        mon.set_events(tool, mon.events.RAISE)
        try:
            return [c async for c in s]
        finally:
            mon.set_events(tool, 0)

    def replace_value(code, offset, exc):  # type: ignore[no-untyped-def]
        if isinstance(exc, StopIteration) and isinstance(exc.value, sserpent.Chunk):
            exc.value = "replaced"  # what the await then returns, as on any version

    async def read_replaced():  # type: ignore[no-untyped-def]
        s = client.stream("POST", "/chat/completions", json=body, headers={"x-mock-chunks": "50"})
        async for _ in s:
            break
        deadline = time.monotonic() + 30
        while s.metrics.duration is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the whole stream read: the next step is a ready one's
        mon.set_events(tool, mon.events.RAISE)
        try:
            async for first in s:
                return first
        finally:
            mon.set_events(tool, 0)

    try:
        chunks = asyncio.run(read())
        mon.register_callback(tool, mon.events.RAISE, replace_value)
        made = sserpent._sserpent._stop_iteration_reused()[2]
        replaced = asyncio.run(read_replaced())
        made = sserpent._sserpent._stop_iteration_reused()[2] - made
    finally:
        mon.register_callback(tool, mon.events.RAISE, None)
        mon.free_tool_id(tool)
    values = [e.value for e in kept if isinstance(e.value, sserpent.Chunk)]
    n_kept, n_objects = len(kept), len({id(e) for e in kept})
    kept.clear()  # (the first read's exceptions, which hold its chunks)
    gc.collect()  # (and any other test's, in a cycle with its traceback)
    # The chunk the tool replaced is held by no StopIteration once its step is over.
    holding = sum(1 for e in gc.get_objects() if isinstance(e, StopIteration)
                  and any(isinstance(a, sserpent.Chunk) for a in e.args))
    reused = sserpent._sserpent._stop_iteration_reused()[0]
    if replaced != "replaced" or holding or made != (1 if reused else 0):
        raise SmokeError(f"a step whose value a tool replaced: got {replaced!r}, {holding} StopIteration "
                         f"still holding a chunk, {made} made to be raised again (reuse: {reused})")
    if n_objects != n_kept or len(values) != len(chunks) or not all(v is c for v, c in zip(values, chunks)):
        raise SmokeError(f"monitored StopIterations: {n_kept} raised, {n_objects} objects, "
                         f"{len(values)} holding chunks, for {len(chunks)} chunks")


def run_notebook(path: str, want_text: str) -> None:
    """Runs the notebook in a kernel of this venv (a first cell checks which Python and which
    sserpent the kernel has); its two loops must print ``want_text``, the mock's reply to
    the notebook's 12 chunks."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    probe = (
        "import os, sys, sserpent\n"
        f"assert os.path.realpath(sys.prefix) == {os.path.realpath(sys.prefix)!r}, sys.prefix\n"
        f"assert os.path.realpath(sserpent.__file__).startswith({os.path.realpath(sys.prefix)!r}), sserpent.__file__\n"
    )
    nb.cells.insert(0, nbformat.v4.new_code_cell(probe))
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}
    )
    try:
        client.execute()
    except Exception as e:  # nbclient's CellExecutionError carries the cell's traceback
        raise SmokeError(f"the notebook failed: {str(e)[-800:]}") from e
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        raise SmokeError(f"the notebook raised: {errors[0].get('ename')}: {errors[0].get('evalue')}")

    def stdout(cell) -> str:  # type: ignore[no-untyped-def]
        return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")

    loops = [c for c in code if "for chunk in stream" in c.source]
    texts = [stdout(c) for c in loops]
    if texts != [want_text, want_text]:
        raise SmokeError(f"the notebook's sync and async loops printed {texts!r}, not {want_text!r} twice")
    display = [c for c in code if "stream.display()" in c.source]
    markdown = [o for c in display for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    if not display or not markdown or "chunks/s" not in markdown[-1]["data"]["text/markdown"]:
        raise SmokeError(f"the notebook's display() cell showed no Markdown with its footer: {markdown[-1:]}")


# --- the command line ----------------------------------------------------------------------


def pick_notebook(spec: str, versions: List[Tuple[int, int]]) -> set:
    if not versions or not spec:
        return set()
    chosen = set()
    for part in spec.split(","):
        part = part.strip()
        if part == "all":
            chosen |= set(versions)
        elif part == "oldest":
            chosen.add(min(versions))
        elif part == "newest":
            chosen.add(max(versions))
        elif part:
            major, minor = part.split(".")
            chosen.add((int(major), int(minor)))
    return chosen


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pythons", nargs="*", help="interpreters to install the wheel for")
    p.add_argument("--wheel", type=Path, help="the wheel to test")
    p.add_argument("--expect-tag", action="append", default=[], help="a tag the wheel must carry (repeatable)")
    p.add_argument("--notebook", default="oldest,newest", help="where to run the notebook: oldest, newest, all, 3.X")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--expect-version", help=argparse.SUPPRESS)
    p.add_argument("--source-tree", help=argparse.SUPPRESS)
    p.add_argument("--notebook-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.inside:
        try:
            print(check_inside(args.expect_version, args.source_tree, args.notebook_file))
        except SmokeError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            return 1
        return 0

    if args.wheel is None or not args.pythons:
        p.error("--wheel and at least one interpreter are needed")
    wheel = args.wheel.resolve()
    try:
        version = cargo_version()
        check_wheel(wheel, version, args.expect_tag)
    except SmokeError as e:
        print(f"wheel smoke: FAILED: {e}")
        return 1
    print(f"wheel smoke: {wheel.name} ({wheel.stat().st_size / 2**20:.1f} MiB): name, tags, files, metadata ok")

    found: List[Tuple[str, str, Tuple[int, int]]] = []
    failures = 0
    for python in args.pythons:
        try:
            impl, mm, full = interpreter_info(python)
        except (SmokeError, OSError, subprocess.SubprocessError) as e:
            first = (str(e).strip().splitlines() or [""])[0]
            print(f"wheel smoke: {python}: skipped ({first[:200]})")
            continue
        if impl != "CPython" or mm < MIN_PYTHON:
            print(f"wheel smoke: {impl} {full}: skipped (the package needs CPython >= 3.9)")
            continue
        if any(f[2] == mm for f in found):
            continue  # one interpreter of each minor version
        found.append((python, full, mm))
    notebook_on = pick_notebook(args.notebook, [mm for _, _, mm in found])
    total_start = time.monotonic()
    for python, full, mm in sorted(found, key=lambda f: f[2]):
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"sserpent-smoke-{mm[0]}.{mm[1]}-") as tmp:
            try:
                ran = smoke_one(python, wheel, version, mm in notebook_on, Path(tmp))
                print(f"wheel smoke: CPython {full}: ok ({ran}) in {time.monotonic() - start:.1f} s")
            except (SmokeError, subprocess.SubprocessError) as e:
                failures += 1
                print(f"wheel smoke: CPython {full}: FAILED in {time.monotonic() - start:.1f} s: {e}")
    if not found:
        print("wheel smoke: FAILED: no CPython >= 3.9 among the interpreters given")
        return 1
    print(
        f"wheel smoke: {len(found) - failures} of {len(found)} CPythons passed "
        f"in {time.monotonic() - total_start:.1f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
