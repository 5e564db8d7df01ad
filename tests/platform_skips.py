"""The tests that need a tool or an OS feature only some platforms have, skipped elsewhere
with the reason (a pytest plugin: ``pytest_plugins`` in conftest.py loads it).

The release workflow runs the suite on macOS, Windows and musl Linux, where Chromium, the
``/proc`` files, ``os.fork``, POSIX signals to child processes, ``resource`` or uvloop may be
missing. scripts/test.sh sets ``SSERPENT_TEST_STRICT=1``: there nothing is skipped for a missing
tool, and a test whose tool is missing fails as it would without this plugin.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from typing import Callable, List, Tuple

import pytest


def _no_chromium() -> bool:
    return not any(shutil.which(n) for n in ("chromium", "chromium-browser"))


def _no_proc() -> bool:
    return not os.path.isdir("/proc/self/fd")


def _no_linux_fork() -> bool:
    # macOS has fork(), but forking a process with threads running is unsafe there.
    return not (hasattr(os, "fork") and sys.platform.startswith("linux"))


def _no_posix_signals() -> bool:
    return sys.platform == "win32"


def _no_resource() -> bool:
    return importlib.util.find_spec("resource") is None


def _no_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is None


# (test file, test name or "" for the whole file, missing?, reason)
FILE_NEEDS: List[Tuple[str, str, Callable[[], bool], str]] = [
    ("test_browser.py", "", _no_chromium, "needs Chromium (chromium or chromium-browser on PATH)"),
    ("test_stream_fork.py", "", _no_linux_fork, "needs os.fork on Linux"),
    ("test_mock_server.py", "test_forked_child_", _no_linux_fork, "needs os.fork on Linux"),
    ("test_leaks.py", "", _no_proc, "counts file descriptors and threads in Linux's /proc"),
    ("test_stream_interrupt.py", "", _no_posix_signals, "sends SIGINT to child processes (POSIX signals)"),
    ("test_mock_server.py", "test_cli_mock_server_runs_until_", _no_posix_signals, "sends SIGINT (POSIX signals)"),
    ("test_decoder.py", "test_100mb_line_with_1mb_limit_keeps_memory_small", _no_resource, "needs resource"),
    ("test_threads.py", "test_event_loops_in_several_threads", _no_uvloop, "needs uvloop (not on Windows)"),
]


def _uses_uvloop(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "uvloop" in [v for v in callspec.params.values() if isinstance(v, str)]


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if os.environ.get("SSERPENT_TEST_STRICT") == "1":
        return
    missing = {}
    for item in items:
        file = item.path.name
        name = getattr(item, "originalname", item.name)
        for needs_file, needs_name, is_missing, reason in FILE_NEEDS:
            if file == needs_file and (not needs_name or name.startswith(needs_name)):
                if needs_file + needs_name not in missing:
                    missing[needs_file + needs_name] = is_missing()
                if missing[needs_file + needs_name]:
                    item.add_marker(pytest.mark.skip(reason=reason))
        if _uses_uvloop(item) and _no_uvloop():
            item.add_marker(pytest.mark.skip(reason="needs uvloop (not on Windows)"))
