#!/usr/bin/env bash
# The benchmark comparison: gepetto, its ablations, gepa 0.1.4, DSPy MIPROv2 and the seed on
# the same task, models, splits and rollout budget. Default: banking-9, budget 100, seed 0
# (about 20-30 minutes on 2 cores); `--full` for the suite. Peers install into .venv-bench/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec .venv/bin/python benchmarks/compare.py "$@"
