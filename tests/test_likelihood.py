"""Gold-answer likelihood: the request it makes, what it returns, and how it fails."""

from __future__ import annotations

import math
from typing import Any, Sequence

import pytest

from gepetto.core.candidate import Candidate
from gepetto.lm.base import Completion, LMError
from gepetto.systems.likelihood import (
    LikelihoodUnsupported,
    answer_logprob,
    answer_logprobs,
    forcing_grammar,
    mean_logprob,
)
from gepetto.systems.prompt_system import PromptSystem


class ForcedLM:
    """Answers as a grammar-forcing server would: the forced text, with logprobs that
    depend on whether the instruction mentions the answer (a 'better' instruction)."""

    identity = "fake|forced"

    def __init__(self, *, logprobs: bool = True, obey: bool = True, fail_on: str | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.logprobs, self.obey, self.fail_on = logprobs, obey, fail_on

    def complete(self, messages: Sequence[dict[str, str]], **params: Any) -> Completion:
        self.requests.append({"messages": list(messages), **params})
        answer = params["grammar"].split('"', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
        if self.fail_on and self.fail_on in messages[-1]["content"]:
            raise LMError("server error after retries")
        instruction = messages[0]["content"]
        per_token = -0.1 if answer in instruction else -1.0
        return Completion(
            text=answer if self.obey else "something else",
            logprobs=(per_token, per_token, -0.05) if self.logprobs else None,
        )

    async def acomplete(self, messages: Sequence[dict[str, str]], **params: Any) -> Completion:
        return self.complete(messages, **params)


MSGS = [{"role": "system", "content": "Label it."}, {"role": "user", "content": "my card never came"}]


def test_forcing_grammar_escapes_quotes_backslashes_and_newlines() -> None:
    assert forcing_grammar("card_arrival") == 'root ::= "card_arrival"'
    assert forcing_grammar('say "hi"\\\nbye') == 'root ::= "say \\"hi\\"\\\\\\nbye"'


def test_answer_logprob_forces_the_answer_and_sums_token_logprobs() -> None:
    lm = ForcedLM()
    value = answer_logprob(lm, MSGS, "card_arrival")
    assert value == pytest.approx(-1.0 - 1.0 - 0.05)
    (request,) = lm.requests
    assert request["grammar"] == 'root ::= "card_arrival"'
    assert request["logprobs"] is True and request["temperature"] == 0.0
    assert request["max_tokens"] >= len("card_arrival")


def test_an_endpoint_without_logprobs_or_grammar_gets_a_clear_error() -> None:
    with pytest.raises(LikelihoodUnsupported, match="logprobs"):
        answer_logprob(ForcedLM(logprobs=False), MSGS, "card_arrival")
    with pytest.raises(LikelihoodUnsupported, match="grammar"):
        answer_logprob(ForcedLM(obey=False), MSGS, "card_arrival")
    with pytest.raises(ValueError, match="non-empty"):
        answer_logprob(ForcedLM(), MSGS, "")


def _system(lm: Any) -> PromptSystem:
    return PromptSystem(
        lm=lm, seed_instruction="Label it.", render=lambda ex: ex["text"],
        metric=lambda ex, reply: float(reply == ex["label"]), module="classify", expected=lambda ex: ex["label"],
    )


EXAMPLES = [{"text": "my card never came", "label": "card_arrival"}, {"text": "atm ate it", "label": "card_swallowed"},
            {"text": "no gold", "label": ""}]


def test_a_better_instruction_makes_gold_answers_more_likely() -> None:
    system = _system(ForcedLM())
    plain = answer_logprobs(system, Candidate({"classify": "Label it."}), EXAMPLES)
    defined = answer_logprobs(system, Candidate({"classify": "Label it. card_arrival: not arrived yet."}), EXAMPLES)
    assert plain[2] is None and defined[2] is None  # no gold answer, no value
    assert defined[0] > plain[0]  # the instruction now names that label
    assert defined[1] == plain[1]
    assert mean_logprob(defined) > mean_logprob(plain)
    assert math.isnan(mean_logprob([None, None]))


def test_the_systems_own_request_parameters_are_kept() -> None:
    lm = ForcedLM()
    system = _system(lm)
    system.extra_params = {"chat_template_kwargs": {"x": 1}, "grammar": "root ::= \"other\""}
    answer_logprobs(system, Candidate({"classify": "Label it."}), EXAMPLES[:1])
    assert lm.requests[0]["chat_template_kwargs"] == {"x": 1}
    assert lm.requests[0]["grammar"] == 'root ::= "card_arrival"'  # the forcing grammar wins


def test_an_endpoint_that_rejects_every_call_is_unsupported() -> None:
    with pytest.raises(LikelihoodUnsupported, match="no example could be scored"):
        answer_logprobs(_system(ForcedLM(fail_on=" ")), Candidate({"classify": "Label it."}), EXAMPLES)


def test_a_failed_call_is_missing_but_an_unsupported_endpoint_stops() -> None:
    values = answer_logprobs(_system(ForcedLM(fail_on="atm")), Candidate({"classify": "Label it."}), EXAMPLES)
    assert values[0] is not None and values[1] is None
    with pytest.raises(LikelihoodUnsupported):
        answer_logprobs(_system(ForcedLM(logprobs=False)), Candidate({"classify": "Label it."}), EXAMPLES)
    no_gold = PromptSystem(lm=ForcedLM(), seed_instruction="x", render=str, metric=lambda ex, r: 0.0)
    with pytest.raises(ValueError, match="expected"):
        answer_logprobs(no_gold, Candidate({"instruction": "x"}), EXAMPLES)
