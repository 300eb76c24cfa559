"""The two-hop question-answering program: query -> BM25 -> query -> BM25 -> answer.

Three modules, each with its own instruction for GEPA to evolve:

* ``first_query`` writes a search query from the question;
* ``second_query`` reads the question and the passages found so far and writes the
  query for what is still missing (the bridge entity: the town or the company);
* ``answer`` reads every retrieved passage and answers in a few words.

The metric says *which hop failed*: feedback for ``first_query`` is about whether the
person's passage was found, for ``second_query`` whether the bridge passage was found,
and for ``answer`` whether the answer was right given what was retrieved. Each module's
reflection sees only its own feedback (``MetricResult.module_feedback``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from gepetto.examples.multihop.corpus import Document, Question
from gepetto.lm.base import LM
from gepetto.systems.metrics import MetricResult, final_answer
from gepetto.systems.program import Module, ProgramSystem

SEED_FIRST = "Write a search query for the question."
SEED_SECOND = "Write a search query to find more information for the question."
SEED_ANSWER = "Answer the question using the passages."

PASSAGES_PER_HOP = 2


class BM25Index:
    """BM25 over the document collection (the ``bm25s`` library; stop words removed)."""

    def __init__(self, documents: Sequence[Document]) -> None:
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - the extra is in dev
            raise ImportError("the multi-hop example needs bm25s: pip install 'gepetto[retrieval]'") from exc
        self._bm25s = bm25s
        self.documents = list(documents)
        corpus = [f"{d.title}. {d.text}" for d in self.documents]
        self._index = bm25s.BM25()
        self._index.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def search(self, query: str, k: int, exclude: Sequence[str] = ()) -> list[Document]:
        """The ``k`` best documents for ``query`` that are not in ``exclude`` (by title)."""
        tokens = self._bm25s.tokenize([query or "?"], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        wanted = min(len(self.documents), k + len(exclude))
        ids, scores = self._index.retrieve(tokens, k=wanted, show_progress=False)
        found = [self.documents[int(i)] for i, s in zip(ids[0], scores[0]) if s > 0]
        return [d for d in found if d.title not in exclude][:k]


def show(passages: Sequence[Document]) -> str:
    if not passages:
        return "(no passages found)"
    return "\n".join(f"[{i + 1}] {d.title}: {d.text}" for i, d in enumerate(passages))


def build_modules() -> tuple[Module, Module, Module]:
    return (
        Module("first_query", SEED_FIRST, inputs=["question"], outputs=["query"]),
        Module("second_query", SEED_SECOND, inputs=["question", "passages"], outputs=["query"]),
        Module("answer", SEED_ANSWER, inputs=["question", "passages"], outputs=["answer"]),
    )


@dataclass
class MultiHopProgram:
    """The program itself: plain Python calling three modules and the retriever."""

    index: BM25Index
    first: Module
    second: Module
    answer: Module

    def __call__(self, example: Question) -> dict[str, Any]:
        q1 = _one_line(self.first(question=example.question)["query"])
        hop1 = self.index.search(q1, PASSAGES_PER_HOP)
        q2 = _one_line(self.second(question=example.question, passages=show(hop1))["query"])
        hop2 = self.index.search(q2, PASSAGES_PER_HOP, exclude=[d.title for d in hop1])
        reply = self.answer(question=example.question, passages=show(hop1 + hop2))["answer"]
        return {"answer": reply, "query1": q1, "query2": q2, "hop1": [d.title for d in hop1], "hop2": [d.title for d in hop2]}


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip('"') if lines else ""


def _mentions(text: str, name: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", text.lower()) is not None


def multihop_metric(example: Question, prediction: dict[str, Any]) -> MetricResult:
    """Half for the right answer (the gold answer and no other candidate of its kind),
    half for retrieval recall of the two passages; ``objectives`` has both parts.

    Feedback per module says which hop failed, so each module's reflection reads about
    its own step: the first query must find the person's passage, the second the
    bridge passage (the town or company that passage names), the answer must use them.
    """
    retrieved = prediction["hop1"] + prediction["hop2"]
    got_subject = example.subject in retrieved
    got_bridge = example.bridge in retrieved
    answer = final_answer(prediction["answer"])
    named = [alt for alt in example.alternatives if _mentions(answer, alt)]
    correct = named == [example.answer]

    f1 = (f"Good: the query {prediction['query1']!r} found the passage about {example.subject}."
          if got_subject else
          f"Hop 1 failed: the query {prediction['query1']!r} retrieved {prediction['hop1']} but not the passage about "
          f"{example.subject}, the person the question names. The first query should name that person.")
    if got_bridge:
        f2 = f"Good: the query {prediction['query2']!r} found the passage about {example.bridge}."
    elif got_subject:
        f2 = (f"Hop 2 failed: the passages named {example.bridge} as the place or company the question depends on, but "
              f"the query {prediction['query2']!r} retrieved {prediction['hop2']} instead of the passage about "
              f"{example.bridge}. The second query should name the entity found in the first passages.")
    else:
        f2 = (f"Hop 2 failed: the passage about {example.bridge} was needed, but the query {prediction['query2']!r} "
              f"retrieved {prediction['hop2']}. (Hop 1 had also missed {example.subject}.)")
    if correct:
        fa = f"Correct: {example.answer}."
    elif len(named) > 1:
        fa = f"Wrong: the answer {answer!r} names several candidates ({', '.join(named)}); expected only {example.answer}."
    elif got_bridge:
        fa = f"Wrong: the passages contained the answer {example.answer!r}, but the reply was {answer!r}. Answer with the name or year alone."
    else:
        fa = (f"Wrong: expected {example.answer}, the reply was {answer!r}; retrieval never found the passage about "
              f"{example.bridge}, so the answer was not in the passages.")
    overall = " ".join([fa, f1 if not got_subject else "", f2 if got_subject and not got_bridge else ""]).strip()
    recall = (got_subject + got_bridge) / 2
    # Half answer, half retrieval recall (as HoVer scores retrieval in the GEPA paper): a
    # better second query shows in the score even while the answer module still fails,
    # so the minibatch gate can see it instead of tying 0 -> 0.
    return MetricResult(
        0.5 * (1.0 if correct else 0.0) + 0.5 * recall, overall,
        objectives={"answer": 1.0 if correct else 0.0, "recall": recall},
        module_feedback={"first_query": f1, "second_query": f2, "answer": fa},
        module_scores={"first_query": float(got_subject), "second_query": float(got_bridge), "answer": 1.0 if correct else 0.0},
    )


def multihop_system(lm: LM, documents: Sequence[Document], *, concurrency: int = 4) -> ProgramSystem:
    """The optimizable system: the program, its three modules, the metric and the task LM."""
    first, second, answer = build_modules()
    program = MultiHopProgram(BM25Index(documents), first, second, answer)
    return ProgramSystem(program, [first, second, answer], multihop_metric, lm=lm, concurrency=concurrency,
                         max_tokens=64, expected=lambda ex: ex.answer)
