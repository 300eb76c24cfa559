"""The bundled two-hop QA example, driven by a fake task LM that follows its instructions.

The fake model is deliberately literal: the second-hop query repeats the question unless
the instruction tells it to name the entity from the passages, and the answer module
copies the answer from the passages only when they contain it. So the seed pipeline
fails at hop 2, and an instruction that names the bridge entity fixes it: the same
mechanics as with a real model, but deterministic.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("bm25s", reason="the multi-hop example needs the retrieval extra: pip install 'gepetto[retrieval]'")

from gepetto import Config, optimize  # noqa: E402
from gepetto.core.candidate import Candidate  # noqa: E402
from gepetto.examples.multihop import build_world, multihop_metric, multihop_system, splits  # noqa: E402
from gepetto.examples.multihop.pipeline import BM25Index  # noqa: E402
from gepetto.lm.callable_lm import ScriptedLM  # noqa: E402
from gepetto.proposers.base import Proposal  # noqa: E402

WORLD = build_world()
TRAIN, VAL, TEST = splits(WORLD)
BETTER_SECOND = "Write a query that names the town or company the passages mention for this person."


def _field(user: str, name: str) -> str:
    match = re.search(rf"^{name}: (.*?)(?=^\w+: |\Z)", user, re.DOTALL | re.MULTILINE)
    return match.group(1).strip() if match else ""


def literal_model(messages: list[dict[str, str]]) -> str:
    system, user = messages[0]["content"], messages[-1]["content"]
    question = _field(user, "question")
    passages = _field(user, "passages")
    if user.splitlines()[-1] == "Reply with the query only.":
        if passages and "names the town or company" in system:
            person = re.search(r"\] ([^:]+): \1 is an? \w+\. \w+ was born in (\w+) and now works for ([\w ]+)\.", passages)
            if person:
                return person.group(3) if "company" in question else person.group(2)
        return question
    # answer module: copy the answer out of the passages when it is there
    for line in passages.splitlines():
        if "province of" in line and "province" in question:
            town = line.split("] ")[1].split(":")[0]
            if re.search(rf"born in {town}\b", passages):
                return re.search(r"province of ([\w ]+)\.", line).group(1)
        if "mayor is" in line and "mayor" in question:
            town = line.split("] ")[1].split(":")[0]
            if re.search(rf"born in {town}\b", passages):
                return re.search(r"mayor is ([\w ]+)\.", line).group(1)
        if "founded in" in line and "year" in question:
            town = line.split("] ")[1].split(":")[0]
            if re.search(rf"born in {town}\b", passages):
                return re.search(r"founded in (\d+)", line).group(1)
        if "headquartered in" in line and "headquartered" in question:
            company = line.split("] ")[1].split(":")[0]
            if re.search(rf"works for {company}\.", passages):
                return re.search(r"headquartered in (\w+)", line).group(1)
    return "Elmshire"


def test_the_world_is_fixed_and_every_answer_is_in_two_passages() -> None:
    again = build_world()
    assert [q.question for q in again.questions] == [q.question for q in WORLD.questions]
    assert (len(WORLD.documents), len(TRAIN), len(VAL), len(TEST)) == (180, 30, 30, 60)
    titles = {d.title: d.text for d in WORLD.documents}
    for q in WORLD.questions:
        assert q.bridge in titles[q.subject] and q.answer in titles[q.bridge]
        assert q.answer in q.alternatives


def test_bm25_finds_the_person_from_the_question_but_not_the_bridge() -> None:
    index = BM25Index(WORLD.documents)
    q = TRAIN[0]
    first = index.search(q.question, 2)
    assert q.subject in [d.title for d in first]
    again = index.search(q.question, 2, exclude=[d.title for d in first])
    assert q.bridge not in [d.title for d in again] and not {d.title for d in again} & {d.title for d in first}
    assert q.bridge in [d.title for d in index.search(q.bridge, 2)]


def test_traces_and_feedback_name_the_hop_that_failed() -> None:
    system = multihop_system(ScriptedLM(respond=literal_model), WORLD.documents, concurrency=1)
    [result] = system.evaluate(Candidate(system.seed_candidate), TRAIN[:1], capture_traces=True)
    assert [r.module for r in result.records] == ["first_query", "second_query", "answer"]
    by_module = {r.module: r for r in result.records}
    q = TRAIN[0]
    assert result.score == 0.25 and result.objectives == {"answer": 0.0, "recall": 0.5}  # hop 1 found, hop 2 missed
    assert by_module["first_query"].feedback.startswith("Good")
    assert by_module["second_query"].feedback.startswith("Hop 2 failed") and q.bridge in by_module["second_query"].feedback
    assert "never found the passage" in by_module["answer"].feedback
    assert by_module["second_query"].inputs["passages"].startswith("[1] ")


def test_the_better_second_query_fixes_hop_two() -> None:
    system = multihop_system(ScriptedLM(respond=literal_model), WORLD.documents)
    seed = Candidate(system.seed_candidate)
    better = Candidate({**system.seed_candidate, "second_query": BETTER_SECOND})
    seed_right = [r.objectives["answer"] for r in system.evaluate(seed, VAL)]
    better_right = [r.objectives["answer"] for r in system.evaluate(better, VAL)]
    assert sum(better_right) >= sum(seed_right) + 15, (sum(seed_right), sum(better_right))


def test_naming_two_candidates_is_wrong() -> None:
    q = next(q for q in TRAIN if q.kind == "province")
    other = next(a for a in q.alternatives if a != q.answer)
    prediction = {"answer": f"{q.answer} or {other}", "query1": "", "query2": "", "hop1": [q.subject], "hop2": [q.bridge]}
    scored = multihop_metric(q, prediction)
    assert scored.score == 0.5 and scored.objectives["answer"] == 0.0 and "several candidates" in scored.feedback
    prediction["answer"] = f"It is {q.answer}."
    assert multihop_metric(q, prediction).score == 1.0


class SecondHopProposer:
    """A proposer that fixes the module whose feedback says it failed (reads feedback only)."""

    def propose(self, candidate, module, records, *, rng, iteration):  # noqa: ANN001, ANN201
        if module == "second_query" and any("Hop 2 failed" in r.feedback for r in records):
            return Proposal(module, BETTER_SECOND)
        return Proposal(module, None)


def test_gepa_finds_the_fix_from_per_module_feedback() -> None:
    system = multihop_system(ScriptedLM(respond=literal_model), WORLD.documents)
    result = optimize(system, TRAIN, VAL, proposer=SecondHopProposer(), config=Config(max_rollouts=80, minibatch_size=3, seed=0))
    assert result.best_candidate["second_query"] == BETTER_SECOND
    assert result.best_score > result.seed_score + 0.3


class Recorder:
    """Refuses everything; remembers which modules it was asked about and their failures."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.scores: list[float] = []

    def propose(self, candidate, module, records, *, rng, iteration):  # noqa: ANN001, ANN201
        self.asked.append(module)
        self.scores += [r.score for r in records]
        return Proposal(module, None)


def test_reflection_goes_to_the_modules_that_failed_their_own_part() -> None:
    """first_query always finds the person (its module score is 1), so round-robin skips
    it and spends reflection on second_query and answer."""
    system = multihop_system(ScriptedLM(respond=literal_model), WORLD.documents)
    recorder = Recorder()
    optimize(system, TRAIN, VAL, proposer=recorder, config=Config(max_rollouts=90, minibatch_size=3, seed=0, max_iterations=12))
    assert recorder.asked and "first_query" not in recorder.asked
    assert {"second_query", "answer"} <= set(recorder.asked)
    assert 0.0 in recorder.scores  # the records carry the module's own score
