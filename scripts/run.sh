#!/usr/bin/env bash
# Builds sserpent (release) into .venv and streams a chat completion to the terminal:
# from OpenAI when OPENAI_API_KEY is set, else from the embedded mock server.
#   ./scripts/run.sh "Why is the sky blue?"
source "$(dirname "$0")/_venv.sh"
maturin develop --release --quiet >/dev/null
exec python -m sserpent chat "$@"
