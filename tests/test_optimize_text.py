"""optimize_text and the sandbox."""

from __future__ import annotations

import os
import re

from gepetto import Config
from gepetto.examples.evolve_function import SEED, evaluate
from gepetto.lm import ScriptedLM
from gepetto.sandbox import run_python
from gepetto.text import optimize_text

FIXED = '''import re, unicodedata

def slugify(title):
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text.lower())
    return text.strip("-")
'''


def test_sandbox_kills_an_infinite_loop_and_reports_it() -> None:
    result = run_python("while True:\n    pass\n", timeout_s=1)
    assert result.timed_out and not result.ok and result.seconds < 10
    assert "timed out" in result.summary()


def test_sandbox_limits_memory_and_hides_the_environment() -> None:
    os.environ["GEPETTO_TEST_SECRET"] = "s3cr3t-value"
    try:
        result = run_python("import os\nprint(os.environ.get('GEPETTO_TEST_SECRET'))\nx = bytearray(2_000_000_000)\n", memory_mb=256)
    finally:
        del os.environ["GEPETTO_TEST_SECRET"]
    assert "s3cr3t-value" not in result.stdout and "None" in result.stdout
    assert not result.ok and "MemoryError" in result.stderr


def test_evaluator_reports_failing_tests_as_feedback() -> None:
    score, info = evaluate(SEED)
    assert score == 0.0 and "spaces become single hyphens" in info["failing"]
    assert evaluate(FIXED)[0] == 1.0
    assert evaluate("def slugify(t):\n    while True: pass\n")[0] == 0.0


def test_optimize_text_fixes_a_function_from_test_feedback() -> None:
    def reflection(messages):
        prompt = messages[-1]["content"]
        assert "Objective: a slugify function that passes every test" in prompt
        assert "spaces become single hyphens" in prompt  # the failing tests reached the LM
        return "Here it is:\n```python\n" + FIXED + "```"

    result = optimize_text(SEED, evaluate, objective="a slugify function that passes every test",
                           reflection_lm=ScriptedLM(respond=reflection), config=Config(max_rollouts=6, minibatch_size=1))
    assert result.seed_score == 0.0 and result.best_score == 1.0
    assert re.search(r"unicodedata", result.best_candidate["text"])
    # seed on val (1), seed again with traces for reflection (1), child (1): the single case
    # is both the training and the validation case, so the child's gate evaluation also
    # serves as its validation score
    assert result.stop_reason == "perfect" and result.rollouts_used == 3


def test_optimize_text_with_cases_and_a_failing_evaluator() -> None:
    calls = []

    def evaluate_case(text, case):
        calls.append(case)
        if case == "boom":
            raise RuntimeError("evaluator crashed on this case")
        return (1.0 if case in text else 0.0), f"the text must mention {case}"

    lm = ScriptedLM(respond=lambda m: "```\nalpha beta gamma boom words\n```")
    result = optimize_text("nothing yet here", evaluate_case, objective="mention every case", reflection_lm=lm,
                           trainset=["alpha", "beta", "boom"], valset=["alpha", "gamma"], config=Config(max_rollouts=20, minibatch_size=3))
    assert result.best_score == 1.0 and "boom" in calls
