"""benchmarks/peers/run_mipro.py on a multi-module program, against a scripted fake server.

The runner needs the benchmark venv (``.venv-bench``: dspy 3.4.1 with optuna); the test
skips without it. It runs the real script in that venv, with a tiny two-module program
task put in place of the bundled ones, against a fake OpenAI-compatible server on
127.0.0.1 that plays both the task model and MIPROv2's prompt model. No real LLM runs.

The toy program adds two numbers: ``draft`` answers, ``polish`` rewrites the answer. The
fake task model gets the sum right for even first operands and one too high for odd
ones, unless the module's instruction says CAREFUL (``draft`` then answers right;
``polish`` then recomputes the sum instead of copying the draft). So the seed program
scores about half, and a proposed instruction with CAREFUL in either module fixes it. The
fake prompt model proposes the instruction it is given plus "Be CAREFUL." every other
time, and records what it was asked, so the test can see one proposal per module and
demo set, and the per-module demos (bootstrapped from the recorded traces).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
SCRIPT = ROOT / "benchmarks" / "peers" / "run_mipro.py"

pytestmark = pytest.mark.skipif(not BENCH_PYTHON.exists(), reason="no .venv-bench (benchmarks/peers/setup_env.sh)")

DRAFT_SEED = "Answer the question."
POLISH_SEED = "Polish the answer."

# Run in .venv-bench: the real run_mipro.py, with common.load_task returning the toy task.
DRIVER = r'''
from __future__ import annotations

import runpy
import sys

sys.path.insert(0, sys.argv.pop(1))  # benchmarks/peers
script = sys.argv[0] = sys.argv.pop(1)

import common
from gepetto.systems.metrics import MetricResult
from gepetto.systems.program import Module, ProgramSystem
from gepetto.tasks.base import Task


def toy_task(*args, **kwargs):
    draft = Module("draft", DRAFT_SEED, inputs=["question"], outputs=["answer"])
    polish = Module("polish", POLISH_SEED, inputs=["question", "answer"], outputs=["final"])

    def program(example):
        answer = draft(question=example["question"])["answer"]
        final = polish(question=example["question"], answer=answer)["final"]
        return {"answer": answer, "final": final}

    def metric(example, prediction):
        right = prediction["final"].strip() == example["target"]
        feedback = "Correct." if right else f"Wrong: the sum is {example['target']}."
        return MetricResult(1.0 if right else 0.0, feedback)

    rows = [{"question": f"add {a} {b}", "target": str(a + b)} for a, b in
            [(2, 3), (5, 1), (4, 4), (7, 2), (6, 1), (3, 3), (8, 5), (1, 9), (2, 2), (9, 4), (6, 6), (5, 5)]]

    def make_system(lm):
        return ProgramSystem(program, [draft, polish], metric, lm=lm, concurrency=2, max_tokens=32,
                             expected=lambda ex: None)

    return Task("toy-program", "toy two-module adder", rows[:6], rows[6:10], rows[10:], make_system)


common.load_task = toy_task
runpy.run_path(script, run_name="__main__")
'''.replace("DRAFT_SEED", repr(DRAFT_SEED)).replace("POLISH_SEED", repr(POLISH_SEED))


def _field(text: str, name: str) -> str | None:
    """The value of ``[[ ## name ## ]]`` in a DSPy ChatAdapter message."""
    match = re.search(rf"\[\[ ## {name} ## \]\]\n(.*?)(?=\n\[\[ ## |\n\nRespond with |\Z)", text, re.DOTALL)
    return match.group(1).strip() if match else None


class FakeModels:
    """Task model for the toy program and DSPy prompt model, behind one endpoint."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.task_calls = 0
        self.prompt_calls = 0
        self.proposals: list[dict[str, str]] = []

    def task_reply(self, instruction: str, user: str) -> str:
        numbers = re.search(r"question: add (\d+) (\d+)", user)
        if numbers is None:
            return "?"
        a, b = int(numbers.group(1)), int(numbers.group(2))
        careful = "CAREFUL" in instruction
        if "Reply with the final only." in user:  # polish
            drafted = re.search(r"^answer: (.*)$", user, re.MULTILINE)
            return str(a + b) if careful else (drafted.group(1).strip() if drafted else "?")
        return str(a + b) if careful or a % 2 == 0 else str(a + b + 1)  # draft

    def prompt_reply(self, system: str, user: str) -> str:
        section = system.split("Your output fields are:", 1)[1].split("All interactions", 1)[0]
        outputs = re.findall(r"^\d+\. `(\w+)`", section, re.MULTILINE)
        values = {name: f"A short {name.replace('_', ' ')}." for name in outputs}
        if "proposed_instruction" in outputs:
            basic = _field(user, "basic_instruction") or ""
            with self.lock:
                self.proposals.append({"basic_instruction": basic, "task_demos": _field(user, "task_demos") or ""})
                careful = len(self.proposals) % 2 == 0
            values["proposed_instruction"] = basic + (" Be CAREFUL." if careful else " Be brief.")
        return "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items()) + "[[ ## completed ## ]]\n"

    def reply(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        if isinstance(user, list):  # content parts
            user = "".join(part.get("text", "") for part in user if isinstance(part, dict))
        if "Your output fields are:" in system:
            with self.lock:
                self.prompt_calls += 1
            return self.prompt_reply(system, user)
        with self.lock:
            self.task_calls += 1
        return self.task_reply(system, user)


@pytest.fixture
def fake_server():
    models = FakeModels()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            text = models.reply(body)
            payload = json.dumps({
                "id": "chatcmpl-toy", "object": "chat.completion", "created": 0, "model": body.get("model", "toy"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", models
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_mipro(tmp_path: Path, url: str, budget: int, *extra: str) -> subprocess.CompletedProcess[str]:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    cmd = [str(BENCH_PYTHON), str(driver), str(SCRIPT.parent), str(SCRIPT), "--task", "toy-program",
           "--base-url", url, "--model", "toy", "--budget", str(budget), "--seed", "0",
           "--out", str(tmp_path / "out.json"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_mipro_optimizes_each_module_of_a_program_within_the_budget(tmp_path, fake_server) -> None:
    url, models = fake_server
    budget = 40
    proc = run_mipro(tmp_path, url, budget)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())

    # the result: one instruction per module, the budget kept, the same fields as a single prompt
    assert set(out["best_instruction"]) == {"draft", "polish"}
    assert all(isinstance(text, str) and text for text in out["best_instruction"].values())
    assert 0 < out["rollouts_used"] <= budget
    for key in ("seed_val", "best_val", "seed_test", "best_test", "task_calls", "reflection_calls", "wall_s",
                "prompt_chars", "curve"):
        assert key in out, key
    assert out["prompt_chars"] == sum(len(t) for t in out["best_instruction"].values())
    details = out["details"]
    assert details["plan"]["n_predictors"] == 2 and details["modules"] == ["draft", "polish"]
    assert details["trials_run"] >= 1
    # the curve's rollout counts never pass the budget; seed 0.5 on val, the best at least that
    assert all(r <= budget for r, _ in out["curve"])
    assert out["seed_val"] == pytest.approx(0.5) and out["best_val"] >= out["seed_val"]
    assert out["seed_test"] == pytest.approx(0.5)
    # a program example is two task calls (draft, polish), all through gepetto's client
    assert out["task_calls"] >= 2 * out["rollouts_used"]

    # MIPROv2 proposed num_candidates instructions for each module (one per demo set), and
    # the bootstrapped per-module traces reached the grounded proposer as task demos
    n = details["plan"]["num_candidates"]
    asked = [p["basic_instruction"] for p in models.proposals]
    assert asked.count(DRAFT_SEED) == n and asked.count(POLISH_SEED) == n, asked
    demos = {p["basic_instruction"]: p["task_demos"] for p in models.proposals if "Question:" in p["task_demos"]}
    assert "Answer:" in demos.get(DRAFT_SEED, "") and "Final:" not in demos.get(DRAFT_SEED, "")
    assert "Answer:" in demos.get(POLISH_SEED, "") and "Final:" in demos.get(POLISH_SEED, "")


def test_mipro_refuses_demos_on_a_program(tmp_path, fake_server) -> None:
    url, models = fake_server
    proc = run_mipro(tmp_path, url, 20, "--demos")
    assert proc.returncode != 0
    assert "--demos is for single-prompt tasks" in proc.stderr
    assert models.task_calls == 0 and models.prompt_calls == 0
