# Sourced by the scripts: creates .venv once and installs the dev requirements into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.sserpent-deps
if [ ! -f "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
# maturin installs into $VIRTUAL_ENV: this project's, even when another one is active.
export VIRTUAL_ENV="$ROOT/.venv"
