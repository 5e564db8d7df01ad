"""tests/wheel_smoke.py (scripts/test.sh's check of the built wheel in fresh venvs) refuses what
it must: a wheel with another platform tag, version or file set than the one asked for, a wheel
pip will not install on this platform, and an import of anything but the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Optional

import pytest
import wheel_smoke as smoke

VERSION = smoke.cargo_version()
GOOD_TAG = "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"
EXPECT = ["cp39-abi3-manylinux_2_17_x86_64", "cp39-abi3-manylinux2014_x86_64"]


def metadata(version: str, requires: Iterable[str] = ()) -> str:
    lines = [
        "Metadata-Version: 2.4",
        "Name: sserpent",
        f"Version: {version}",
        *(f"Classifier: Programming Language :: Python :: 3.{m}" for m in range(9, 15)),
        "Requires-Dist: fastapi>=0.110 ; extra == 'fastapi'",
        "Requires-Dist: ipython>=8 ; extra == 'notebook'",
        "Requires-Dist: pytest>=8 ; extra == 'test'",
        *(f"Requires-Dist: {r}" for r in requires),
        "Provides-Extra: fastapi",
        "Provides-Extra: notebook",
        "Provides-Extra: test",
        "Author: The sserpent developers",
        "Requires-Python: >=3.9",
        "Project-URL: Repository, https://example.invalid/sserpent",
    ]
    return "\n".join(lines) + "\n\nThe README.\n"


def make_wheel(
    tmp: Path,
    tag: str = GOOD_TAG,
    *,
    version: str = VERSION,
    drop: Iterable[str] = (),
    add: Optional[Dict[str, str]] = None,
    requires: Iterable[str] = (),
    inner_tag: Optional[str] = None,
) -> Path:
    """A wheel shaped like the real one (the extension is an empty file: nothing imports it)."""
    py, abi, plats = (inner_tag or tag).split("-")
    tags = [f"{py}-{abi}-{p}" for p in plats.split(".")]
    di = f"sserpent-{version}.dist-info"
    files = {
        "sserpent/__init__.py": "",
        "sserpent/_sserpent.abi3.so": "",
        "sserpent/_sserpent.pyi": "",
        "sserpent/py.typed": "",
        f"{di}/licenses/LICENSE": "MIT License\n",
        f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
        + "".join(f"Tag: {t}\n" for t in tags),
        f"{di}/METADATA": metadata(version, requires),
    }
    files.update(add or {})
    for name in drop:
        del files[name]
    files[f"{di}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{di}/RECORD,,\n"
    path = tmp / f"sserpent-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_a_wheel_shaped_like_the_release_passes(tmp_path: Path) -> None:
    smoke.check_wheel(make_wheel(tmp_path), VERSION, EXPECT)


DI = f"sserpent-{VERSION}.dist-info"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tag": "cp39-abi3-linux_x86_64"}, "lack cp39-abi3-manylinux_2_17_x86_64"),
        ({"tag": "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"}, "lack cp39-abi3"),
        ({"tag": "cp39-abi3-manylinux_2_28_x86_64"}, "lack cp39-abi3-manylinux_2_17_x86_64"),
        ({"tag": "cp39-abi3-win_amd64"}, "lack"),
        ({"version": "0.0.1"}, "but Cargo.toml says"),
        ({"inner_tag": "cp39-abi3-linux_x86_64"}, "WHEEL says tags"),
        ({"drop": ["sserpent/py.typed"]}, "no sserpent/py.typed"),
        ({"drop": [f"{DI}/licenses/LICENSE"]}, "no LICENSE in the dist-info"),
        ({"drop": ["sserpent/_sserpent.abi3.so"]}, "no extension module"),
        ({"drop": ["sserpent/_sserpent.pyi"]}, "stubs"),
        ({"add": {"src/lib.rs": ""}}, "source-tree files"),
        ({"requires": ["httpx>=0.27"]}, "the core package depends on"),
    ],
)
def test_a_wheel_unlike_the_release_fails(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(smoke.SmokeError, match=message):
        smoke.check_wheel(make_wheel(tmp_path, **kwargs), VERSION, EXPECT)


def foreign_platform() -> str:
    """A platform tag no interpreter on this machine accepts."""
    return "manylinux_2_17_x86_64" if sys.platform == "win32" else "win_amd64"


def test_pip_refuses_a_wheel_for_another_platform(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, f"cp39-abi3-{foreign_platform()}")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(smoke.SmokeError, match="pip install of the wheel failed") as e:
        smoke.smoke_one(sys.executable, wheel, VERSION, False, work)
    assert "not a supported wheel on this platform" in str(e.value)


def test_the_source_tree_or_a_stray_copy_instead_of_the_installed_package_fails(tmp_path: Path) -> None:
    # A `sserpent` package next to the script shadows the installed one, as a checkout's would.
    (tmp_path / "sserpent").mkdir()
    (tmp_path / "sserpent" / "__init__.py").write_text(f"__version__ = {VERSION!r}\n")
    shutil.copy(smoke.__file__, tmp_path / "wheel_smoke.py")
    env = smoke.clean_env(Path(sys.executable).parent)
    out = subprocess.run(
        [sys.executable, str(tmp_path / "wheel_smoke.py"), "--inside", "--expect-version", VERSION],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out
    assert "is not in the venv's site-packages" in out.stderr, out.stderr

    root = Path(smoke.__file__).resolve().parent.parent
    in_tree = str(root / "python" / "sserpent" / "__init__.py")
    with pytest.raises(smoke.SmokeError, match="not in the venv's site-packages"):
        smoke.check_location(in_tree, sys.prefix, str(root))


def test_rust_on_path_or_pythonpath_is_left_out_of_the_venvs_environment(tmp_path: Path) -> None:
    bin_dir = tmp_path / "rust" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "cargo").write_text("")
    saved = dict(os.environ)
    try:
        os.environ["PATH"] = os.pathsep.join([str(bin_dir), saved.get("PATH", "")])
        os.environ["PYTHONPATH"] = str(tmp_path)
        env = smoke.clean_env(tmp_path / "venv" / "bin")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert str(bin_dir) not in env["PATH"].split(os.pathsep)
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / "venv" / "bin")
    assert "PYTHONPATH" not in env and env["PYTHONNOUSERSITE"] == "1"
