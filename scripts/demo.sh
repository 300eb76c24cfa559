#!/usr/bin/env bash
# The main job: a real GEPA optimization on the embedded local LLM (no API key).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec .venv/bin/gepetto demo "$@"
