#!/usr/bin/env bash
# Create .venv-bench/ in the repository root (or reuse it) for the peer optimizers:
# gepetto itself (editable, with the ifbench extra, so the runners can use its tasks,
# metrics and LM client),
# gepa 0.1.4 and DSPy 3.4.1 with optuna (MIPROv2). The peers are never dependencies of
# gepetto: they live only in this venv. Reinstalls only when pyproject.toml or the
# pinned peer versions below changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
peers=("gepa==0.1.4" "dspy[optuna]==3.4.1")
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
fi
venv=".venv-bench"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup_env: creating $venv with $($py --version 2>&1)"
  "$py" -m venv "$venv"
fi
stamp="$venv/.peers-installed"
extras="ifbench"
want="$( { sha256sum pyproject.toml | cut -d' ' -f1; printf '%s\n' "${peers[@]}" "$extras"; } | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup_env: installing gepetto, ${peers[*]} into $venv"
  log="$venv/setup.log"
  if ! { "$venv/bin/python" -m pip install --upgrade pip \
         && "$venv/bin/python" -m pip install -e "$root[$extras]" "${peers[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "setup_env: installation failed; the full log is in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
echo "setup_env: $venv ready ($("$venv/bin/python" -c 'import gepa, dspy; from importlib.metadata import version as v; print("gepa", v("gepa"), "dspy", v("dspy"))'))"
