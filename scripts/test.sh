#!/usr/bin/env bash
# Builds sserpent once and runs every check: rustfmt, clippy, the Rust unit and property
# tests, ruff, the stub check and the whole pytest suite.
#   ./scripts/test.sh [extra pytest args]
source "$(dirname "$0")/_venv.sh"
step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (core and bindings) -D warnings"
cargo clippy --all-targets --no-default-features --quiet -- -D warnings
cargo clippy --lib --features python --quiet -- -D warnings
step "cargo test (pure-Rust core)"
cargo test --no-default-features --quiet
step "maturin develop --release (the one build of the extension)"
maturin develop --release --quiet >/dev/null
step "ruff check"
ruff check python tests benches examples
step "stubs match the extension (mypy.stubtest)"
python -m mypy.stubtest sserpent._sserpent --allowlist .ci/stubtest-allowlist.txt
step "pytest"
python -m pytest -q "$@"
