"""Run survival under SIGKILL: a real optimization process is killed at several points,
resumed each time, and must end exactly where an uninterrupted run ends, having paid for
at most the batch that was in flight at each kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
VAL_SIZE = 8  # the largest batch the script evaluates (validation); minibatches are 3

# A slow toy run (~130 rollouts x 20 ms): the toy system of tests/engine/toy.py, each
# example logged to a calls file before it is scored, and a reflection LM whose replies
# are a pure function of (prompt, sample_index) - helpful, chatter or a useless variant.
SCRIPT = textwrap.dedent(
    """
    import hashlib, json, re, sys, time
    from gepetto import Config, optimize
    from gepetto.lm.base import Completion
    from tests.engine.toy import ToySystem, make_examples

    run_dir, calls_log, out, resume = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    SLEEP_S = 0.02

    class SlowToy(ToySystem):
        def evaluate(self, candidate, examples, *, capture_traces=False):
            results = []
            with open(calls_log, "a") as log:
                for ex in examples:
                    time.sleep(SLEEP_S)
                    log.write(candidate.id + "\\n")
                    log.flush()
                    results.extend(super().evaluate(candidate, [ex], capture_traces=capture_traces))
            return results

    class PureReflection:
        identity = "fake|pure"

        def complete(self, messages, *, temperature=None, max_tokens=None, sample_index=0, **params):
            prompt = messages[-1]["content"]
            current = re.search(r"CURRENT INSTRUCTION\\n```\\n(.*?)\\n```", prompt, re.DOTALL).group(1)
            h = int(hashlib.sha256(f"{prompt}|{sample_index}".encode()).hexdigest()[:8], 16)
            if h % 7 == 0:
                if "must be doubled" in prompt:
                    return Completion(f"```\\n{current} Then double it before answering.\\n```")
                if "hexadecimal" in prompt:
                    return Completion(f"```\\n{current} Use hex notation.\\n```")
            if h % 7 == 1:
                return Completion("Certainly! Please provide the inputs.")
            return Completion(f"```\\n{current} Be careful, variant {h % 997}.\\n```")

        async def acomplete(self, messages, **kw):
            return self.complete(messages, **kw)

    print("ready", flush=True)
    result = optimize(
        SlowToy(), make_examples(12, 1), make_examples(8, 2), reflection_lm=PureReflection(),
        config=Config(max_rollouts=200, minibatch_size=3, seed=3), run_dir=run_dir, resume=resume,
    )
    with open(out, "w") as handle:
        json.dump({
            "proposals": [[p.iteration, p.kind, p.parent, list(p.modules), p.status, p.texts, p.child_index,
                           p.parent_score, p.child_score] for p in result.proposals],
            "candidates": [[c.candidate.to_dict(), list(c.parents), c.origin] for c in result.candidates],
            "val_scores": result.val_scores, "best_index": result.best_index,
            "rollouts_used": result.rollouts_used, "rollouts_by_kind": result.rollouts_by_kind,
            "stop_reason": result.stop_reason,
        }, handle)
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def _start(script: Path, run_dir: Path, calls: Path, out: Path, resume: bool) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(script), str(run_dir), str(calls), str(out), "1" if resume else "0"],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()  # imports done, optimize about to start
    assert line.strip() == "ready", proc.stderr.read()
    return proc


def _stored(run_dir: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return int(db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # not created yet


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "slow_run.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("reference")
    proc = _start(script, base / "run", base / "calls", base / "out.json", resume=False)
    _finish(proc)
    data = json.loads((base / "out.json").read_text())
    data["calls"] = _lines(base / "calls")
    assert data["calls"] == data["rollouts_used"]  # every rollout was one system call
    assert data["rollouts_used"] >= 100, "the reference run is too short for the kill points"
    assert data["stop_reason"] in ("perfect", "budget", "saturated")
    return data


def test_sigkill_at_several_points_then_resume_matches_the_uninterrupted_run(script, reference, tmp_path) -> None:
    run_dir, calls, out = tmp_path / "run", tmp_path / "calls", tmp_path / "out.json"
    # Kill points by progress (stored evaluations), so that they land at the start (during
    # the seed's validation), early and late in the run whatever the machine's speed; a
    # short extra delay puts each kill in the middle of the next batch.
    kill_after_stored = [0, 25, 60, 95]
    killed_at: list[tuple[int, int]] = []
    for n, threshold in enumerate(kill_after_stored):
        proc = _start(script, run_dir, calls, out, resume=n > 0)
        deadline = time.monotonic() + 30
        while _stored(run_dir) < threshold and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.03)
        assert proc.poll() is None, f"the run finished before kill point {threshold}: {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        killed_at.append((_stored(run_dir), _lines(calls)))
    assert not out.exists()
    # the kills really were at different points of the run
    stored = [s for s, _ in killed_at]
    assert stored == sorted(stored) and len(set(stored)) == len(stored), killed_at

    _finish(_start(script, run_dir, calls, out, resume=True))
    final = json.loads(out.read_text())
    for key in ("proposals", "candidates", "val_scores", "best_index", "rollouts_used", "rollouts_by_kind", "stop_reason"):
        assert final[key] == reference[key], key

    # nothing already stored was paid for again: only the batch in flight at each kill
    total_calls = _lines(calls)
    assert reference["calls"] <= total_calls <= reference["calls"] + len(kill_after_stored) * VAL_SIZE, (
        total_calls, reference["calls"], killed_at,
    )
    assert _stored(run_dir) == reference["rollouts_used"]
