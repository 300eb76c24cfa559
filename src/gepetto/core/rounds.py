"""Parallel proposals: several reflection pipelines in flight at once, reproducibly.

Why: one proposal is a chain of waits — the parent's minibatch on the task LM, then one
long reflection reply, then the child's minibatch. Run one after another, the task LM
idles while the reflection LM writes and a local server's parallel slots sit empty. With
``Config.parallel_proposals = k`` the engine runs *rounds* of k pipelines:

1. **Plan** (main thread, the run's seeded ``random.Random``): k parents from the current
   pool, k minibatches, and a private ``random.Random`` per pipeline. Every choice that
   uses randomness is made here, in a fixed order.
2. **Parents' minibatches**, all k concurrently (a (candidate, example) pair that several
   pipelines need is fetched once when evaluations are reused).
3. **Reflect and gate**, pipelined: pipeline i's proposer call waits for pipeline i-1's
   (the proposer keeps memories, so it sees the same sequence of calls in every run), while
   the other pipelines' child minibatches and the main thread's validation passes run
   alongside. The main thread settles pipelines strictly in order: it charges the budget,
   applies the gate and scores accepted children (staged validation included).

Everything the run records (budget order, events, pool indices) is therefore the same for
a given seed and ``parallel_proposals``, whatever the thread timing. A round starts only
when the budget can pay for all of its pipelines in the worst case, and the new children
of a round become parents from the next round on; that is the price of the overlap.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from gepetto.core.candidate import Candidate
from gepetto.core.events import IterationStarted
from gepetto.core.result import ProposalRecord
from gepetto.systems.adapter import ExampleResult

if TYPE_CHECKING:  # pragma: no cover
    from gepetto.core.engine import Engine, _State

Key = tuple[str, str, int]


@dataclass
class _Fetch:
    """What one pipeline's minibatch needs: known results, replays, fresh evaluations."""

    known: dict[int, ExampleResult] = field(default_factory=dict)
    replayed: dict[int, ExampleResult] = field(default_factory=dict)
    fresh: list[int] = field(default_factory=list)
    shared: dict[int, int] = field(default_factory=dict)  # example -> earlier pipeline fetching it


@dataclass
class _Pipeline:
    iteration: int
    parent: int
    batch: list[int]
    rng: random.Random
    fetch: _Fetch
    fresh_results: list[ExampleResult] = field(default_factory=list)
    results: list[ExampleResult] = field(default_factory=list)
    modules: tuple[str, ...] = ()
    cursor_after: int = 0
    texts: dict[str, str] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    child: Candidate | None = None
    duplicate: bool = False
    child_known: dict[int, ExampleResult] = field(default_factory=dict)
    child_replayed: dict[int, ExampleResult] = field(default_factory=dict)
    child_fresh: list[int] = field(default_factory=list)
    child_results: list[ExampleResult] = field(default_factory=list)
    skipped: bool = False
    check_rollouts: int = 0  # the proposer's own checks of its samples, charged when settled


def _worst_case(engine: "Engine") -> int:
    """Rollouts one pipeline may spend: parent and child minibatch (twice with
    ``gate_ties: extend``), a full validation pass and the proposer's own checks."""
    mb = min(engine.config.minibatch_size, len(engine.trainset))
    return (4 if engine.config.gate_ties == "extend" else 2) * mb + len(engine.valset) + engine.check_rollouts()


def round_width(engine: "Engine", state: "_State") -> int:
    """Pipelines the next round can run: at most ``parallel_proposals``, each affordable in
    the worst case (gate + full validation), and within ``max_iterations``."""
    cfg = engine.config
    per = _worst_case(engine)
    width = min(cfg.parallel_proposals, max(1, state.budget.remaining // per))  # the holdout reserve is kept out of it
    if cfg.max_iterations is not None:
        width = min(width, cfg.max_iterations - state.iteration + 1)  # the loop counted this one already
    return max(1, width)


def run_round(engine: "Engine", state: "_State", width: int) -> None:
    pipelines = _plan(engine, state, width)
    with ThreadPoolExecutor(max_workers=width) as pool:
        # 2. parents' minibatches, concurrently; then charged in pipeline order
        futures = [pool.submit(_fetch_parent, engine, state, p) for p in pipelines]
        for p, future in zip(pipelines, futures):
            p.fresh_results = future.result()
        last = state.iteration
        for k, p in enumerate(pipelines):
            state.iteration = p.iteration  # what this settlement records and emits
            _settle_parent(engine, state, pipelines, k)
        state.iteration = last
        # 3. reflection in turn, child minibatches alongside; settled in order
        turns = [threading.Event() for _ in pipelines]
        turns[0].set()
        pool_ids = {rec.candidate.id for rec in state.records}
        proposed: set[str] = set()
        futures = [pool.submit(_reflect_and_gate, engine, state, p, turns, k, pool_ids, proposed) for k, p in enumerate(pipelines)]
        per = _worst_case(engine)
        try:
            for k, (p, future) in enumerate(zip(pipelines, futures)):
                future.result()
                state.iteration = p.iteration
                # the later pipelines' worst case stays reserved (revisits of parked
                # candidates must not spend it)
                state.reserved = (len(pipelines) - k - 1) * per
                _settle_child(engine, state, p)
        finally:
            state.iteration = last
            state.reserved = 0
            for t in turns:  # never leave a worker waiting for a turn that will not come
                t.set()


def _plan(engine: "Engine", state: "_State", width: int) -> list[_Pipeline]:
    eligible = engine._complete_rows(state)
    claimed: dict[Key, int] = {}
    extra: dict[Key, int] = {}
    pipelines: list[_Pipeline] = []
    for k in range(width):
        if k:  # the engine's loop already counted the first pipeline's iteration
            state.iteration += 1
        parent = engine.selector.select(state.table, eligible, engine.rng)
        engine._emit(IterationStarted(state.iteration, state.budget.used, parent=parent, kind="reflection"))
        batch = list(state.sampler.next_batch(engine.rng, engine._believed_failing(state, parent)))
        rng = random.Random(engine.rng.getrandbits(64))
        candidate = state.records[parent].candidate
        fetch = _Fetch()
        for i in batch:
            key = (candidate.id, "train", i)
            if engine.config.reuse_evaluations:
                cached = state.memo.get(key)
                if cached is not None and cached.records:
                    fetch.known[i] = cached
                    continue
                if key in claimed:
                    fetch.shared[i] = claimed[key]
                    continue
            occurrence = state.occurrences.get(key, 0) + extra.get(key, 0)
            extra[key] = extra.get(key, 0) + 1
            found = engine.replay.lookup(candidate.id, "train", i, occurrence) if engine.replay is not None else None
            if found is not None:
                fetch.replayed[i] = found
            else:
                fetch.fresh.append(i)
            claimed[key] = k
        pipelines.append(_Pipeline(state.iteration, parent, batch, rng, fetch))
    return pipelines


def _fetch_parent(engine: "Engine", state: "_State", p: _Pipeline) -> list[ExampleResult]:
    if not p.fetch.fresh:
        return []
    candidate = state.records[p.parent].candidate
    fresh = engine.system.evaluate(candidate, [engine.trainset[i] for i in p.fetch.fresh], capture_traces=True)
    engine._check_count(fresh, p.fetch.fresh)
    return list(fresh)


def _settle_parent(engine: "Engine", state: "_State", pipelines: list[_Pipeline], k: int) -> None:
    p = pipelines[k]
    candidate = state.records[p.parent].candidate
    by_id: dict[int, ExampleResult] = dict(p.fetch.known)
    if p.fetch.replayed:
        ids = list(p.fetch.replayed)
        engine._settle(state, candidate, "train", ids, [p.fetch.replayed[i] for i in ids], "minibatch", p.parent, replayed=True)
        by_id.update(p.fetch.replayed)
    if p.fetch.fresh:
        engine._settle(state, candidate, "train", p.fetch.fresh, p.fresh_results, "minibatch", p.parent, replayed=False)
        engine._check_failures(state, p.fresh_results)
        by_id.update(zip(p.fetch.fresh, p.fresh_results))
    for i, owner in p.fetch.shared.items():
        by_id[i] = next(r for j, r in zip(pipelines[owner].batch, pipelines[owner].results) if j == i)
    p.results = [by_id[i] for i in p.batch]


def _reflect_and_gate(
    engine: "Engine", state: "_State", p: _Pipeline, turns: list[threading.Event], k: int, pool_ids: set[str], proposed: set[str]
) -> None:
    """Worker: wait for this pipeline's turn at the proposer, then evaluate the child."""
    cfg = engine.config
    turns[k].wait()
    try:
        if cfg.skip_perfect_minibatch and all(r.score >= cfg.perfect_score for r in p.results):
            p.skipped = True
            return
        failing = {rec.module for r in p.results for rec in r.records if rec.score is not None and rec.score < cfg.perfect_score}
        p.modules = engine._next_modules(state, p.parent, failing)
        p.cursor_after = state.module_cursor.get(p.parent, 0)
        parent_candidate = state.records[p.parent].candidate
        for module in p.modules:
            records = [engine._module_records(r, module, engine.trainset[i]) for i, r in zip(p.batch, p.results)]
            flat = [rec for group in records for rec in group]
            proposal = engine.proposer.propose(parent_candidate, module, flat, rng=p.rng, iteration=p.iteration)
            p.check_rollouts += getattr(proposal, "rollouts", 0)
            p.refusals.extend(a.refusal for a in proposal.attempts if a.refusal)
            engine._count_reflection(state, proposal)
            if proposal.text is not None:
                p.texts[module] = proposal.text
        if p.texts:
            p.child = Candidate({**parent_candidate.to_dict(), **p.texts})
            p.duplicate = p.child.id in pool_ids or p.child.id in proposed
            proposed.add(p.child.id)
    finally:
        if k + 1 < len(turns):
            turns[k + 1].set()
    if p.child is None or p.duplicate:
        return
    # A child text may have been evaluated before (proposed again after a rejection). No
    # other thread touches its keys: it is not in the pool, and a second pipeline
    # proposing it in this round is a duplicate.
    todo = []
    for i in p.batch:
        key = (p.child.id, "train", i)
        known = state.memo.get(key) if cfg.reuse_evaluations else None
        if known is not None:
            p.child_known[i] = known
            continue
        found = engine.replay.lookup(p.child.id, "train", i, state.occurrences.get(key, 0)) if engine.replay is not None else None
        if found is not None:
            p.child_replayed[i] = found
        else:
            todo.append(i)
    p.child_fresh = todo
    if todo:
        fresh = engine.system.evaluate(p.child, [engine.trainset[i] for i in todo], capture_traces=False)
        engine._check_count(fresh, todo)
        p.child_results = list(fresh)


def _settle_child(engine: "Engine", state: "_State", p: _Pipeline) -> None:
    """Main thread, in pipeline order: charge, gate, accept, validate."""
    cfg = engine.config
    parent_sum = float(sum(r.score for r in p.results))
    base = ProposalRecord(iteration=p.iteration, kind="reflection", parent=p.parent, modules=p.modules, status="", parent_score=parent_sum)
    if p.skipped:
        engine._record(state, replace(base, status="skipped-perfect", rollouts_used=state.budget.used))
        return
    if p.check_rollouts:
        state.budget.spend(p.check_rollouts, "proposal-check")
    state.since_best += 1
    if p.child is None:
        reason = p.refusals[0] if p.refusals else "no proposal"
        engine._record(state, replace(base, status="refused", reason=reason, refusals=tuple(p.refusals), rollouts_used=state.budget.used))
        return
    if p.duplicate:
        engine._record(state, replace(base, status="duplicate", texts=p.texts, refusals=tuple(p.refusals), rollouts_used=state.budget.used))
        return
    by_id: dict[int, ExampleResult] = dict(p.child_known)
    if p.child_replayed:
        ids = list(p.child_replayed)
        engine._settle(state, p.child, "train", ids, [p.child_replayed[i] for i in ids], "minibatch", None, replayed=True)
        by_id.update(p.child_replayed)
    if p.child_fresh:
        engine._settle(state, p.child, "train", p.child_fresh, p.child_results, "minibatch", None, replayed=False)
        engine._check_failures(state, p.child_results)
        by_id.update(zip(p.child_fresh, p.child_results))
    child_sum = float(sum(by_id[i].score for i in p.batch))
    engine._gate_and_accept(state, base, p.child, p.parent, p.texts, p.refusals, parent_sum, child_sum, cursor=p.cursor_after)
