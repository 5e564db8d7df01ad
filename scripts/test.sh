#!/usr/bin/env bash
# Builds sserpent once and runs every check: rustfmt, clippy, the Rust unit and property
# tests, the fuzz targets (60 s each), the release sdist and wheel (scripts/build-wheels.sh,
# the one release build), ruff, the stub check, the whole pytest suite against that wheel
# installed into .venv, and the wheel in a fresh venv of every CPython >= 3.9 found here.
#   ./scripts/test.sh [extra pytest args]
source "$(dirname "$0")/_venv.sh"
step() { printf '\n== %s\n' "$*"; }

# tests/test_browser.py drives Debian's headless Chromium.
if ! command -v chromium >/dev/null; then
  step "apt-get install chromium (for tests/test_browser.py)"
  if [ "$(id -u)" -ne 0 ] && sudo -n true 2>/dev/null; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (core, bindings, abi3 bindings) -D warnings"
cargo clippy --all-targets --no-default-features --quiet -- -D warnings
cargo clippy --lib --features python --quiet -- -D warnings
cargo clippy --lib --features abi3 --quiet -- -D warnings
step "cargo test (pure-Rust core)"
cargo test --no-default-features --quiet
step "fuzz: SSE decoder, JSON parser, chunk pipeline, HTTP/1.1 response reader, 60 s each (scripts/fuzz.sh)"
./scripts/fuzz.sh
step "release artifacts: the sdist, and the abi3 manylinux2014 wheel built from it (scripts/build-wheels.sh, the one build of the extension)"
./scripts/build-wheels.sh dist
wheel="$(ls dist/sserpent-*-cp39-abi3-*.whl)"

step "install the wheel into .venv: the checks below run against the installed package"
python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
python - <<'PY'
import os, sys, sysconfig
import sserpent, sserpent._sserpent
site = os.path.realpath(sysconfig.get_paths()["platlib"])
for f in (sserpent.__file__, sserpent._sserpent.__file__):
    if not os.path.realpath(f).startswith(site + os.sep):
        sys.exit(f"test.sh: {f} is not the installed wheel's (in {site})")
PY

step "ruff check"
ruff check python tests benches examples
step "stubs match the extension (mypy.stubtest)"
python -m mypy.stubtest sserpent._sserpent --allowlist .ci/stubtest-allowlist.txt

step "the wheel in a fresh venv of each CPython here, as users install it (tests/wheel_smoke.py)"
# Every pyenv version (found from pyenv, or next to the interpreter that made .venv) and any
# python3.N on PATH; wheel_smoke.py skips those older than 3.9 and the duplicates.
pythons=()
pyenv_root="${PYENV_ROOT:-$(pyenv root 2>/dev/null || true)}"
base="$(python -c 'import sys; print(sys.base_prefix)')"
[ -n "$pyenv_root" ] || { [ "$(basename "$(dirname "$base")")" = versions ] && pyenv_root="$(dirname "$(dirname "$base")")"; } || true
if [ -n "$pyenv_root" ]; then
  for py in "$pyenv_root"/versions/*/bin/python3; do [ -x "$py" ] && pythons+=("$py"); done
fi
for n in 9 10 11 12 13 14; do
  py="$(command -v "python3.$n" || true)"
  # (pyenv's shims run only the versions pyenv has selected: its versions are above.)
  case "$py" in ''|"$pyenv_root"/shims/*) ;; *) pythons+=("$py") ;; esac
done
pythons+=("$base/bin/python3")
python tests/wheel_smoke.py --wheel "$wheel" --notebook oldest,newest \
  --expect-tag "cp39-abi3-manylinux_2_17_$(uname -m)" --expect-tag "cp39-abi3-manylinux2014_$(uname -m)" "${pythons[@]}"

step "pytest (against the installed wheel)"
# Every test runs here: none is skipped for a missing tool (tests/platform_skips.py).
SSERPENT_TEST_STRICT=1 python -m pytest -q "$@"
step "async suite through the portable wake-up path (SSERPENT_ASYNC_WAKE=threadsafe, tests marked async_io)"
SSERPENT_TEST_STRICT=1 SSERPENT_ASYNC_WAKE=threadsafe python -m pytest -q -m async_io "$@"
step "fault matrix and stream tests through hyper's HTTP/1.1 reader (SSERPENT_HTTP1=hyper; the runs above read cleartext HTTP/1.1 from the socket)"
SSERPENT_TEST_STRICT=1 SSERPENT_HTTP1=hyper python -m pytest -q tests/test_fault_matrix.py tests/test_stream_errors.py tests/test_stream_cancellation.py tests/test_pool_shrink.py tests/test_header_timeouts.py "$@"
