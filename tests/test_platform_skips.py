"""tests/platform_skips.py skips the tests whose tool is missing, with the reason, and only
those; under SSERPENT_TEST_STRICT=1 (scripts/test.sh) it skips nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import platform_skips
import pytest


class FakeItem:
    def __init__(self, file: str, name: str, params: Optional[Dict[str, Any]] = None) -> None:
        self.path = Path("tests") / file
        self.originalname = name
        self.name = name + (f"[{'-'.join(map(str, params.values()))}]" if params else "")
        if params is not None:
            self.callspec = SimpleNamespace(params=params)
        self.markers: List[Any] = []

    def add_marker(self, marker: Any) -> None:
        self.markers.append(marker)

    @property
    def skip_reasons(self) -> List[str]:
        return [m.kwargs["reason"] for m in self.markers if m.name == "skip"]


def items() -> List[FakeItem]:
    return [
        FakeItem("test_browser.py", "test_chat_page_streams_the_reply"),
        FakeItem("test_stream_fork.py", "test_child_streams"),
        FakeItem("test_stream_basic.py", "test_stream", {"mode": "uvloop"}),
        FakeItem("test_stream_basic.py", "test_stream", {"mode": "asyncio"}),
        FakeItem("test_mock_server.py", "test_forked_child_leaves_the_parents_server_alone"),
        FakeItem("test_mock_server.py", "test_enqueue"),
    ]


def collect(monkeypatch: pytest.MonkeyPatch, strict: bool, **missing: bool) -> List[FakeItem]:
    if strict:
        monkeypatch.setenv("SSERPENT_TEST_STRICT", "1")
    else:
        monkeypatch.delenv("SSERPENT_TEST_STRICT", raising=False)
    for name, value in missing.items():
        monkeypatch.setattr(platform_skips, name, lambda value=value: value)
    # The table holds the functions themselves: rebuild it with the patched ones.
    monkeypatch.setattr(
        platform_skips,
        "FILE_NEEDS",
        [(f, n, getattr(platform_skips, check.__name__), r) for f, n, check, r in platform_skips.FILE_NEEDS],
    )
    got = items()
    platform_skips.pytest_collection_modifyitems(None, got)  # type: ignore[arg-type]
    return got


def test_missing_tools_skip_their_tests_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    browser, fork, uv, aio, forked_server, enqueue = collect(
        monkeypatch, False, _no_chromium=True, _no_linux_fork=True, _no_uvloop=True
    )
    assert browser.skip_reasons == ["needs Chromium (chromium or chromium-browser on PATH)"]
    assert fork.skip_reasons == forked_server.skip_reasons == ["needs os.fork on Linux"]
    assert uv.skip_reasons == ["needs uvloop (not on Windows)"]
    assert aio.skip_reasons == enqueue.skip_reasons == []


def test_present_tools_skip_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    got = collect(monkeypatch, False, _no_chromium=False, _no_linux_fork=False, _no_uvloop=False)
    assert [i.skip_reasons for i in got] == [[]] * len(got)


def test_strict_mode_skips_nothing_even_with_tools_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    got = collect(monkeypatch, True, _no_chromium=True, _no_linux_fork=True, _no_uvloop=True)
    assert [i.skip_reasons for i in got] == [[]] * len(got)
