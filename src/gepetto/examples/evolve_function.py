"""Evolve a small Python function against unit tests with ``optimize_text``.

    python -m gepetto.examples.evolve_function [--model 1.5b] [--budget 12]

The seed implementation of ``slugify`` is wrong; each evaluation runs the candidate code
and the tests in a sandboxed interpreter, and the failing assertions are the feedback the
reflection LM reads. Score = the fraction of tests that pass.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from gepetto.core.config import Config, ReflectionConfig
from gepetto.sandbox import run_python

SEED = '''def slugify(title):
    return title.lower()
'''

TESTS = [
    ("slugify('Hello World') == 'hello-world'", "spaces become single hyphens"),
    ("slugify('  Trim me  ') == 'trim-me'", "leading and trailing spaces are dropped"),
    ("slugify('Hello,   World!') == 'hello-world'", "punctuation is removed and runs of separators collapse"),
    ("slugify('Crème Brûlée') == 'creme-brulee'", "accents are stripped to plain ASCII"),
    ("slugify('a--b__c') == 'a-b-c'", "hyphens and underscores collapse to one hyphen"),
]

HARNESS = """
import json
results = []
for expression, meaning in CASES:
    try:
        ok = bool(eval(expression))
        results.append([expression, meaning, ok, "" if ok else "returned " + repr(eval(expression.split(" == ")[0]))])
    except Exception as exc:
        results.append([expression, meaning, False, type(exc).__name__ + ": " + str(exc)])
print("RESULTS" + json.dumps(results))
"""


def evaluate(code: str) -> tuple[float, dict[str, str]]:
    """Run the candidate and every test in one sandboxed process."""
    import json

    program = code + "\n\nCASES = " + repr(TESTS) + "\n" + HARNESS
    outcome = run_python(program, timeout_s=5)
    marker = [line for line in outcome.stdout.splitlines() if line.startswith("RESULTS")]
    if not marker:
        return 0.0, {"error": outcome.summary()}
    results = json.loads(marker[-1][len("RESULTS"):])
    passed = sum(1 for r in results if r[2])
    failing = [f"{expr}  ({meaning}): {detail}" for expr, meaning, ok, detail in results if not ok]
    return passed / len(results), {"passed": f"{passed}/{len(results)} tests", "failing": "\n".join(failing) or "none"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gepetto.examples.evolve_function", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="1.5b")
    parser.add_argument("--budget", type=int, default=12, help="evaluations (default 12)")
    args = parser.parse_args(argv)
    from gepetto.lm import make_lm
    from gepetto.lm.embedded import start_embedded
    from gepetto.text import optimize_text

    print(f"seed scores {evaluate(SEED)[0]:.2f}")
    with start_embedded(args.model) as server:
        lm = make_lm(base_url=server.base_url, model=server.model, role="reflection", cache_sampled=True, identity=server.identity,
                     seed_samples=True)
        result = optimize_text(
            SEED, evaluate, objective="a Python function slugify(title) that passes every test",
            reflection_lm=lm, config=Config(max_rollouts=args.budget, minibatch_size=1, reflection=ReflectionConfig(max_tokens=400)),
        )
    print(result.summary())
    print(f"score: seed {result.seed_score:.2f} -> best {result.best_score:.2f}\n{result.best_candidate['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
