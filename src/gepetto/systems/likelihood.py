"""How likely the task model finds the gold answer: a graded signal for comparing instructions.

Why: on a classifier's 30 validation examples, accuracy moves in steps of 1/30, and two
instructions whose test accuracy differs by several points often tie or swap there. The
task model's log-probability of the gold label under an instruction uses the same examples
but is graded: it moves when an instruction makes the right answer more (or less) likely
even where the greedy answer does not flip yet. It is only meaningful where the reply *is*
the answer (a label, a short value), not where the answer follows free-form reasoning.

How: one request per example with a grammar that admits only the gold answer, asking for
the reply's token log-probabilities. llama.cpp's server reports each forced token's
probability from the model's own distribution (before the grammar is applied), so their
sum is log p(gold answer | instruction, input), the end-of-reply token included, from one
short call. Endpoints that do not support ``grammar`` and ``logprobs`` together raise a
clear :class:`~gepetto.lm.base.LMError`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.lm.base import LM, LikelihoodUnsupported, LMError, Message
from gepetto.lm.grammar import gbnf_literal

__all__ = ["LikelihoodUnsupported", "answer_logprob", "answer_logprobs", "forcing_grammar", "mean_logprob", "paired_means"]


def forcing_grammar(answer: str) -> str:
    """A GBNF grammar whose only sentence is ``answer``."""
    return f"root ::= {gbnf_literal(answer)}"


def answer_logprob(lm: LM, messages: Sequence[Message], answer: str, **params: Any) -> float:
    """Natural-log probability that ``lm`` replies exactly ``answer`` to ``messages``.
    ``params``: further request parameters of the system being scored (e.g. a chat
    template setting), so the prompt scored is the prompt the system sends."""
    if not answer:
        raise ValueError("answer_logprob needs a non-empty answer")
    params = {k: v for k, v in params.items() if k not in ("grammar", "json_schema", "response_format")}
    completion = lm.complete(
        messages, **{**params, "temperature": 0.0, "max_tokens": len(answer) + 8,
                     "logprobs": True, "top_logprobs": 1, "grammar": forcing_grammar(answer)},
    )
    if completion.logprobs is None or not completion.logprobs:
        raise LikelihoodUnsupported(
            "the endpoint returned no token logprobs; gold-answer likelihood needs a server that supports "
            "`logprobs` and a `grammar` parameter (llama.cpp's llama-server, e.g. the embedded model)"
        )
    if completion.text != answer:
        raise LikelihoodUnsupported(
            f"the endpoint did not follow the forcing grammar (asked for {answer!r}, got {completion.text[:80]!r}); "
            "gold-answer likelihood needs a server that supports the `grammar` parameter (llama.cpp's llama-server)"
        )
    return math.fsum(completion.logprobs)


def answer_logprobs(
    system: Any, candidate: Candidate | Mapping[str, str], examples: Sequence[Any], *,
    lm: LM | None = None, concurrency: int | None = None,
) -> list[float | None]:
    """Gold-answer log-probability per example for a single-module system (a
    :class:`~gepetto.systems.prompt_system.PromptSystem`: ``messages``, ``expected``,
    ``module``, ``lm``, ``extra_params``). ``lm`` overrides the system's (e.g. a cached one).
    ``None`` for an example without a gold answer or whose call failed after the LM layer's
    retries: compare candidates on the examples all of them have (:func:`paired_means`).
    Raises :class:`LikelihoodUnsupported` when the endpoint cannot do this at all, including
    when no example at all could be scored (an endpoint that rejects ``grammar``)."""
    if getattr(system, "expected", None) is None:
        raise ValueError("gold-answer likelihood needs a system that knows each example's expected answer (`expected=`)")
    instruction = candidate[system.module]
    model = lm if lm is not None else system.lm
    extra = dict(getattr(system, "extra_params", {}) or {})
    errors: list[str] = []

    def one(example: Any) -> float | None:
        answer = system.expected(example)
        if not answer:
            return None
        try:
            return answer_logprob(model, system.messages(instruction, example), str(answer), **extra)
        except LikelihoodUnsupported:
            raise  # the endpoint cannot do this at all: say so once, not per example
        except LMError as exc:
            errors.append(str(exc))
            return None

    workers = concurrency if concurrency is not None else int(getattr(system, "concurrency", 4) or 1)
    if len(examples) <= 1 or workers <= 1:
        values = [one(ex) for ex in examples]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(examples))) as pool:
            values = list(pool.map(one, examples))
    if errors and all(v is None for v in values):
        raise LikelihoodUnsupported(f"no example could be scored ({len(errors)} calls failed); the last error: {errors[-1][:300]}")
    return values


def mean_logprob(values: Sequence[float | None]) -> float:
    """Mean over the examples that have a value (``nan`` if none)."""
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else math.nan


def paired_means(rows: Sequence[Sequence[float | None]]) -> list[float]:
    """Each row's mean over the examples *every* row has a value for (``nan`` if none):
    a candidate whose call failed on a hard example must not look better for it."""
    if not rows:
        return []
    shared = [i for i in range(len(rows[0])) if all(i < len(row) and row[i] is not None for row in rows)]
    if not shared:
        return [math.nan] * len(rows)
    return [math.fsum(float(row[i]) for i in shared) / len(shared) for row in rows]  # type: ignore[arg-type]
