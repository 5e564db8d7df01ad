#!/usr/bin/env bash
# Builds sserpent once and runs every check: rustfmt, clippy, the Rust unit and property
# tests, the fuzz targets (60 s each), ruff, the stub check and the whole pytest suite.
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
step "cargo clippy (core and bindings) -D warnings"
cargo clippy --all-targets --no-default-features --quiet -- -D warnings
cargo clippy --lib --features python --quiet -- -D warnings
step "cargo test (pure-Rust core)"
cargo test --no-default-features --quiet
step "fuzz: SSE decoder, JSON parser, chunk pipeline, 60 s each (scripts/fuzz.sh)"
./scripts/fuzz.sh
step "maturin develop --release (the one build of the extension)"
maturin develop --release --quiet >/dev/null
step "ruff check"
ruff check python tests benches examples
step "stubs match the extension (mypy.stubtest)"
python -m mypy.stubtest sserpent._sserpent --allowlist .ci/stubtest-allowlist.txt
step "pytest"
python -m pytest -q "$@"
step "async suite through the portable wake-up path (SSERPENT_ASYNC_WAKE=threadsafe, tests marked async_io)"
SSERPENT_ASYNC_WAKE=threadsafe python -m pytest -q -m async_io "$@"
