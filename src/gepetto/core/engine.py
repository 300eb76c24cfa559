"""The GEPA loop (paper, Algorithm 1): select a parent on the Pareto front, reflect on
one module's traces, gate the child on the same minibatch, score accepted children on the
validation set, and now and then merge two lineages.

The engine is pure orchestration: every outside effect goes through the injected system
(evaluations), proposer (reflection LM) and observers (events), and every random choice
through one seeded ``random.Random``. Same seed and same replies give the same run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from gepetto.core.budget import Budget
from gepetto.core.candidate import Candidate, CandidateRecord, Lineage
from gepetto.core.config import Config
from gepetto.core.events import (
    CandidateAccepted,
    CandidateScored,
    EvaluationDone,
    Event,
    IterationStarted,
    Observer,
    ProposalEvaluated,
    RunFinished,
    RunStarted,
)
from gepetto.core.merge import merge_subsample, plan_merge
from gepetto.core.pareto import ScoreTable, pareto_front
from gepetto.core.planning import SURVEY_EXAMPLES
from gepetto.core.result import ProposalRecord, Result
from gepetto.core.rounds import round_width, run_round
from gepetto.core.sampling import EpochShuffledSampler
from gepetto.core.staging import can_still_matter, stages
from gepetto.core.selection import (
    BeamSelector,
    CandidateSelector,
    CurrentBestSelector,
    EpsilonGreedySelector,
    ParetoSelector,
)
from gepetto.proposers.base import Proposer
from gepetto.systems.adapter import ExampleResult, ModuleRecord, System


class ReplaySource(Protocol):
    """Results of an earlier, interrupted run of the same configuration.

    A resumed run re-executes the loop from the start; every evaluation it needs that
    the store already holds is served from there (and charged to the budget as it was
    the first time), so the resumed run retraces the interrupted one step for step and
    continues where it stopped without calling the system again.
    """

    def lookup(self, candidate_id: str, split: str, example: int, occurrence: int) -> ExampleResult | None: ...


class SystemicFailure(Exception):
    """Every rollout of several consecutive batches failed: the system or server is down."""


def make_selector(config: Config) -> CandidateSelector:
    if config.selector == "pareto":
        return ParetoSelector(frontier=config.frontier, tie_tolerance=config.tie_tolerance)
    if config.selector == "current-best":
        return CurrentBestSelector()
    if config.selector == "beam":
        return BeamSelector(width=config.beam_width)
    return EpsilonGreedySelector(epsilon=config.epsilon)


@dataclass
class _State:
    records: list[CandidateRecord]
    table: ScoreTable
    lineage: Lineage
    budget: Budget
    sampler: EpochShuffledSampler
    val_outputs: list[list[Any]] = field(default_factory=list)
    proposals: list[ProposalRecord] = field(default_factory=list)
    module_cursor: dict[int, int] = field(default_factory=dict)
    merges_tried: set[tuple[int, int, int]] = field(default_factory=set)
    merges_due: int = 0
    merges_done: int = 0
    iteration: int = 0
    since_best: int = 0
    idle_iterations: int = 0
    memo: dict[tuple[str, str, int], ExampleResult] = field(default_factory=dict)
    occurrences: dict[tuple[str, str, int], int] = field(default_factory=dict)
    failed_batches: int = 0
    failed_reflections: int = 0
    parked: list[int] = field(default_factory=list)
    reserved: int = 0
    train_scores: dict[str, dict[int, float]] = field(default_factory=dict)


class Engine:
    """One optimization run. Build it, call :meth:`run` once."""

    def __init__(
        self,
        system: System,
        trainset: Sequence[Any],
        valset: Sequence[Any],
        seed_candidate: Candidate,
        proposer: Proposer,
        config: Config,
        *,
        observers: Sequence[Observer] = (),
        clock: Callable[[], float] = time.monotonic,
        stop_requested: Callable[[], bool] = lambda: False,
        replay: ReplaySource | None = None,
        holdout: Sequence[Any] = (),
    ) -> None:
        if len(trainset) == 0:
            raise ValueError("trainset is empty: reflection needs training examples to learn from")
        if len(valset) == 0:
            raise ValueError("valset is empty: candidates are compared on validation examples")
        if config.max_rollouts < len(valset) + 2 * min(config.minibatch_size, len(trainset)):
            raise ValueError(
                f"max_rollouts={config.max_rollouts} is too small: scoring the seed on the "
                f"{len(valset)} validation examples and one proposal needs at least "
                f"{len(valset) + 2 * min(config.minibatch_size, len(trainset))}; raise "
                "max_rollouts or use a smaller valset"
            )
        self.system = system
        self.trainset = list(trainset)
        self.valset = list(valset)
        self.seed_candidate = seed_candidate
        self.proposer = proposer
        self.config = config
        self.observers = list(observers)
        self.clock = clock
        self.stop_requested = stop_requested
        self.replay = replay
        self.holdout = list(holdout)
        # rollouts kept back from the loop for the final held-out check
        self.holdout_reserve = (config.holdout_top_k + 1) * len(self.holdout)
        if self.holdout and config.max_rollouts < self.holdout_reserve + len(valset) + 2 * min(config.minibatch_size, len(trainset)):
            raise ValueError(
                f"max_rollouts={config.max_rollouts} is too small for a held-out final check: it keeps back "
                f"{self.holdout_reserve} rollouts ({config.holdout_top_k} candidates + the seed on {len(self.holdout)} "
                "held-out examples); raise max_rollouts, lower holdout_top_k or use fewer held-out examples"
            )
        self.rng = random.Random(config.seed)
        self.selector = make_selector(config)
        self.modules = tuple(seed_candidate)
        # training examples that are the very same objects as validation examples
        val_index = {id(example): j for j, example in enumerate(self.valset)}
        self._train_to_val = (
            {i: val_index[id(ex)] for i, ex in enumerate(self.trainset) if id(ex) in val_index}
            if config.reuse_evaluations else {}
        )
        self._val_to_train = {v: t for t, v in self._train_to_val.items()}

    # ----------------------------------------------------------------- events
    def _emit(self, event: Event) -> None:
        for observer in self.observers:
            try:
                observer.on_event(event)
            except Exception:  # noqa: BLE001 - a broken observer must not end the run
                pass

    # ------------------------------------------------------------ evaluations
    def _evaluate(
        self, state: _State, candidate: Candidate, split: str, ids: Sequence[int], *, traces: bool, kind: str,
        pool_index: int | None = None,
    ) -> list[ExampleResult]:
        """Evaluate ``candidate`` on examples ``ids`` of ``split``, paying only for what
        is not already known (when ``reuse_evaluations`` is on)."""
        if split == "train" and self._train_to_val:
            shared = [i for i in ids if i in self._train_to_val]
            if shared:
                # the same example object is in both splits (inference-time search):
                # one evaluation serves both, so it is paid for once
                via_val = self._evaluate(state, candidate, "val", [self._train_to_val[i] for i in shared], traces=traces, kind=kind, pool_index=pool_index)
                by_id = dict(zip(shared, via_val))
                rest = [i for i in ids if i not in by_id]
                if rest:
                    by_id.update(zip(rest, self._evaluate_split(state, candidate, split, rest, traces=traces, kind=kind, pool_index=pool_index)))
                return [by_id[i] for i in ids]
        return self._evaluate_split(state, candidate, split, ids, traces=traces, kind=kind, pool_index=pool_index)

    def _evaluate_split(
        self, state: _State, candidate: Candidate, split: str, ids: Sequence[int], *, traces: bool, kind: str,
        pool_index: int | None = None,
    ) -> list[ExampleResult]:
        data = {"train": self.trainset, "val": self.valset, "holdout": self.holdout}[split]
        results: dict[int, ExampleResult] = {}
        todo: list[int] = []
        for i in ids:
            cached = state.memo.get((candidate.id, split, i)) if self.config.reuse_evaluations else None
            if cached is not None and (not traces or cached.records):
                results[i] = cached
            else:
                todo.append(i)
        replayed: list[int] = []
        if todo and self.replay is not None:
            for i in list(todo):
                key = (candidate.id, split, i)
                found = self.replay.lookup(candidate.id, split, i, state.occurrences.get(key, 0))
                if found is not None:
                    results[i] = found
                    replayed.append(i)
            todo = [i for i in todo if i not in results]
        if replayed:
            self._settle(state, candidate, split, replayed, [results[i] for i in replayed], kind, pool_index, replayed=True)
        if todo:
            fresh = self.system.evaluate(candidate, [data[i] for i in todo], capture_traces=traces)
            self._check_count(fresh, todo)
            for i, result in zip(todo, fresh):
                results[i] = result
            self._settle(state, candidate, split, todo, fresh, kind, pool_index, replayed=False)
            self._check_failures(state, fresh)
        return [results[i] for i in ids]

    @staticmethod
    def _check_count(fresh: Sequence[ExampleResult], todo: Sequence[int]) -> None:
        if len(fresh) != len(todo):
            raise RuntimeError(
                f"the system returned {len(fresh)} results for {len(todo)} examples; "
                "System.evaluate must return exactly one result per example, in order"
            )

    def _check_failures(self, state: _State, fresh: Sequence[ExampleResult]) -> None:
        """Several consecutive batches where every rollout failed: the system is down."""
        if all(r.error for r in fresh):
            state.failed_batches += 1
            if state.failed_batches >= self.config.max_failed_batches:
                raise SystemicFailure(fresh[-1].error or "every rollout failed")
        else:
            state.failed_batches = 0

    def _settle(
        self, state: _State, candidate: Candidate, split: str, ids: Sequence[int], results: Sequence[ExampleResult],
        kind: str, pool_index: int | None, *, replayed: bool,
    ) -> None:
        """Charge, memoize and announce a batch of results (fresh or replayed)."""
        state.budget.spend(len(ids), kind)
        occurrences = []
        for i, result in zip(ids, results):
            key = (candidate.id, split, i)
            occurrences.append(state.occurrences.get(key, 0))
            state.occurrences[key] = occurrences[-1] + 1
            state.memo[key] = result
            train_index = i if split == "train" else self._val_to_train.get(i) if split == "val" else None
            if train_index is not None:
                state.train_scores.setdefault(candidate.id, {})[train_index] = float(result.score)
        self._emit(
            EvaluationDone(
                state.iteration, state.budget.used, candidate=pool_index, split=split, example_ids=tuple(ids),
                scores=tuple(float(r.score) for r in results), candidate_id=candidate.id, results=tuple(results),
                occurrences=tuple(occurrences), replayed=replayed, kind=kind,
            )
        )

    def _score_on_val(self, state: _State, index: int, ids: Sequence[int] | None = None) -> None:
        ids = list(range(len(self.valset))) if ids is None else list(ids)
        todo = [i for i in ids if np.isnan(state.table.scores[index, i])]
        if not todo:
            return
        results = self._evaluate(state, state.records[index].candidate, "val", todo, traces=False, kind="validation", pool_index=index)
        for i, result in zip(todo, results):
            state.table.set(index, i, result.score, dict(result.objectives or {}))
            state.val_outputs[index][i] = result.output

    def _parallel(self) -> bool:
        """Rounds of parallel proposals, unless training and validation share examples
        (inference-time search), where one evaluation serves both splits."""
        return self.config.parallel_proposals > 1 and not self._train_to_val

    # ----------------------------------------------------- staged validation
    def _staged(self) -> bool:
        """The parking rule reasons about the instance front and the best mean, so it
        holds for Pareto and current-best selection only (beam and epsilon-greedy may
        pick any of several candidates by mean)."""
        cfg = self.config
        return cfg.validation == "staged" and cfg.frontier == "instance" and cfg.selector in ("pareto", "current-best")

    def _ceiling(self, state: _State) -> float:
        """The highest score a rollout can get: ``perfect_score``, or more if seen."""
        seen = state.table.scores
        top = float(np.nanmax(seen)) if seen.size and not np.isnan(seen).all() else -np.inf
        return max(self.config.perfect_score, top)

    def _could_matter(self, state: _State, index: int) -> bool:
        """Could candidate ``index``, fully scored, enter the front or become the best?"""
        complete = self._complete_rows(state)
        rows = [r for r in np.flatnonzero(complete).tolist() if r != index]
        best = self._best(state)
        if self.holdout:
            # with a held-out final check, ranking among the finalists is what matters
            means = state.table.means()
            ranked = sorted((r for r in rows if r != 0), key=lambda r: (-means[r], r))
            if len(ranked) < self.config.holdout_top_k:
                return True
            best = ranked[self.config.holdout_top_k - 1]
        return can_still_matter(
            state.table.scores[rows], state.table.scores[index], ceiling=self._ceiling(state),
            best_mean=float(state.table.means()[best]), tie_tolerance=self.config.tie_tolerance,
            row_ids=rows, child_id=index, best_id=best,
        )

    def _score_child(self, state: _State, index: int, parent: int) -> bool:
        """Score an accepted child on the validation set; True when it was parked
        (provably neither a front member nor the best, see :mod:`gepetto.core.staging`)."""
        if not self._staged():
            self._score_on_val(state, index)
            return False
        n = len(self.valset)
        chunk = self.config.stage_size or max(5, n // 4)
        # a stream of its own, so that a run where nothing is parked is the very run
        # the paper's full validation would have made
        order_rng = random.Random(f"stages:{self.config.seed}:{index}")
        order = stages(state.table.row(parent), self._ceiling(state), self.config.tie_tolerance, chunk, order_rng)
        for k, stage in enumerate(order):
            self._score_on_val(state, index, stage)
            if k + 1 < len(order) and not self._could_matter(state, index):
                state.parked.append(index)
                return True
        return False

    def _revisit_parked(self, state: _State) -> None:
        """A change in the pool can give a parked candidate a chance again (a newcomer
        took instances from the candidate that dominated it): complete those, budget
        permitting, so every parked candidate stays provably irrelevant."""
        changed = True
        while changed and state.parked:
            changed = False
            for index in list(state.parked):
                missing = int(np.isnan(state.table.scores[index]).sum())
                # ``reserved``: what the rest of a round of parallel proposals still needs
                if not self._could_matter(state, index) or not state.budget.can_afford(missing + state.reserved):
                    continue
                state.parked.remove(index)
                previous_best = float(state.table.means()[self._best(state)])
                self._score_on_val(state, index)
                self._after_scoring(state, index, previous_best)
                changed = True

    # ------------------------------------------------------------------ pool
    def _add_candidate(
        self, state: _State, candidate: Candidate, parents: tuple[int, ...], origin: str, changed: tuple[str, ...], note: str = ""
    ) -> int:
        index = len(state.records)
        state.records.append(
            CandidateRecord(
                index=index, candidate=candidate, parents=parents, origin=origin, changed_modules=changed,
                iteration=state.iteration, rollouts_at_creation=state.budget.used, note=note,
            )
        )
        state.lineage.add(parents)
        state.table.add_row()
        state.val_outputs.append([None] * len(self.valset))
        self._emit(
            CandidateAccepted(
                state.iteration, state.budget.used, index=index, parents=parents, origin=origin, changed_modules=changed,
                candidate_id=candidate.id, texts=candidate.to_dict(), note=note,
            )
        )
        return index

    def _complete_rows(self, state: _State) -> np.ndarray:
        return state.table.complete_rows()

    def _best(self, state: _State) -> int:
        means = state.table.means()
        complete = self._complete_rows(state)
        rows = [r for r in range(len(means)) if complete[r]] or [0]
        return min(rows, key=lambda r: (-means[r], r))

    def _after_scoring(self, state: _State, index: int, previous_best: float) -> None:
        best = self._best(state)
        means = state.table.means()
        self._emit(CandidateScored(state.iteration, state.budget.used, index=index, val_mean=float(means[index]), best_index=best, best_val_mean=float(means[best])))
        if means[best] > previous_best + self.config.tie_tolerance:
            state.since_best = 0

    # ------------------------------------------------------------- stopping
    def _stop_reason(self, state: _State, started: float) -> str | None:
        cfg = self.config
        if self.stop_requested():
            return "interrupted"
        if cfg.max_iterations is not None and state.iteration >= cfg.max_iterations:
            return "max_iterations"
        if cfg.max_seconds is not None and self.clock() - started >= cfg.max_seconds:
            return "max_seconds"
        if cfg.patience is not None and state.since_best >= cfg.patience:
            return "patience"
        means = state.table.means()
        if cfg.target_score is not None and means[self._best(state)] >= cfg.target_score:
            return "target_score"
        if means[self._best(state)] >= cfg.perfect_score:
            return "perfect"
        # Iterations that cost nothing (perfect minibatches already scored) make no
        # progress; after several epochs of them there is nothing left to learn from.
        epoch_batches = -(-len(self.trainset) // max(1, cfg.minibatch_size))
        if state.idle_iterations >= max(20, 3 * epoch_batches):
            return "saturated"
        mb = min(cfg.minibatch_size, len(self.trainset))
        # a whole iteration must be affordable: parent + child minibatch + validation
        if not state.budget.can_afford(2 * mb + len(self.valset)):
            return "budget"
        return None

    # --------------------------------------------------------------- steps
    def _next_modules(self, state: _State, parent: int, failing: set[str] = frozenset()) -> tuple[str, ...]:  # type: ignore[assignment]
        """Round-robin over the modules, skipping those whose own records on this
        minibatch were all perfect when another module failed (systems that report
        per-module scores; with example-level scores every module fails together)."""
        if self.config.module_selection == "all":
            return self.modules
        cursor = state.module_cursor.get(parent, 0)
        n = len(self.modules)
        step = next((k for k in range(n) if self.modules[(cursor + k) % n] in failing), 0)
        state.module_cursor[parent] = cursor + step + 1
        return (self.modules[(cursor + step) % n],)

    def _record(self, state: _State, proposal: ProposalRecord) -> None:
        state.proposals.append(proposal)
        self._emit(
            ProposalEvaluated(
                state.iteration, state.budget.used, parent=proposal.parent, module=",".join(proposal.modules),
                kind=proposal.kind, status=proposal.status, reason=proposal.reason,
                parent_minibatch=proposal.parent_score, child_minibatch=proposal.child_score, record=proposal,
            )
        )

    def _reflect(self, state: _State) -> None:
        cfg = self.config
        eligible = self._complete_rows(state)
        parent = self.selector.select(state.table, eligible, self.rng)
        self._emit(IterationStarted(state.iteration, state.budget.used, parent=parent, kind="reflection"))
        batch = state.sampler.next_batch(self.rng, self._believed_failing(state, parent))
        parent_candidate = state.records[parent].candidate

        parent_results = self._evaluate(state, parent_candidate, "train", batch, traces=True, kind="minibatch", pool_index=parent)
        parent_sum = float(sum(r.score for r in parent_results))
        failing = {
            rec.module for r in parent_results for rec in r.records
            if rec.score is not None and rec.score < cfg.perfect_score
        }
        modules = self._next_modules(state, parent, failing)
        base = ProposalRecord(iteration=state.iteration, kind="reflection", parent=parent, modules=modules, status="", parent_score=parent_sum)
        if cfg.skip_perfect_minibatch and all(r.score >= cfg.perfect_score for r in parent_results):
            self._record(state, replace(base, status="skipped-perfect", rollouts_used=state.budget.used))
            return
        if not state.budget.can_afford(len(batch) + len(self.valset) + self.check_rollouts()):
            # cannot pay for checks + gate + validation any more; the loop will stop on budget
            self._record(state, replace(base, status="skipped-budget", rollouts_used=state.budget.used))
            return

        texts: dict[str, str] = {}
        refusals: list[str] = []
        for module in modules:
            records = [self._module_records(r, module, self.trainset[i]) for i, r in zip(batch, parent_results)]
            flat = [rec for group in records for rec in group]
            proposal = self.proposer.propose(parent_candidate, module, flat, rng=self.rng, iteration=state.iteration)
            if getattr(proposal, "rollouts", 0):  # the proposer's own checks of its samples
                state.budget.spend(proposal.rollouts, "proposal-check")
            refusals.extend(a.refusal for a in proposal.attempts if a.refusal)
            self._count_reflection(state, proposal)
            if proposal.text is not None:
                texts[module] = proposal.text
        state.since_best += 1
        if not texts:
            reason = refusals[0] if refusals else "no proposal"
            self._record(state, replace(base, status="refused", reason=reason, refusals=tuple(refusals), rollouts_used=state.budget.used))
            return
        child = Candidate({**parent_candidate.to_dict(), **texts})
        if any(rec.candidate.id == child.id for rec in state.records):
            self._record(state, replace(base, status="duplicate", texts=texts, refusals=tuple(refusals), rollouts_used=state.budget.used))
            return
        child_results = self._evaluate(state, child, "train", batch, traces=False, kind="minibatch")
        child_sum = float(sum(r.score for r in child_results))
        self._gate_and_accept(state, base, child, parent, texts, refusals, parent_sum, child_sum, cursor=state.module_cursor.get(parent, 0))

    def _survey(self, state: _State, index: int) -> None:
        """Run the seed on the training set (at most ``SURVEY_EXAMPLES`` of it, a seeded sample
        when larger) when the proposer asks for it, and hand it the records: a proposer that
        knows which training examples the seed gets wrong can write its first text from those.
        Charged as ``survey`` rollouts; with ``reuse_evaluations`` the results are memoized, so
        the seed's later minibatches cost nothing, and a resumed run replays them. The size
        depends on the data and the seed only, never on the budget, so a run resumed with
        another ``max_rollouts`` surveys the same examples."""
        wants = getattr(self.proposer, "wants_survey", None)
        if wants is None or not wants() or not self.trainset:
            return
        n = len(self.trainset)
        ids = list(range(n)) if n <= SURVEY_EXAMPLES else sorted(random.Random(f"survey:{self.config.seed}").sample(range(n), SURVEY_EXAMPLES))
        if not state.budget.can_afford(len(ids) + 2 * self.config.minibatch_size + len(self.valset) + self.check_rollouts()):
            return  # a budget this small is better spent on proposals
        results = self._evaluate(state, state.records[index].candidate, "train", ids, traces=True, kind="survey", pool_index=index)
        records = [rec for i, r in zip(ids, results) for module in self.modules for rec in self._module_records(r, module, self.trainset[i])]
        self.proposer.survey(records)

    def check_rollouts(self) -> int:
        """The most rollouts the next proposal may spend checking its own samples (a
        proposer's optional ``check_rollouts()``; 0 for the rest): kept affordable."""
        check = getattr(self.proposer, "check_rollouts", None)
        return int(check()) if callable(check) else 0

    def _believed_failing(self, state: _State, parent: int) -> list[int]:
        """Training examples ``parent`` is believed to get wrong (``minibatch_focus``).

        Its own training scores where it was run, else those of its nearest ancestor
        that was (a child changes one module, so most answers carry over); examples no
        one in the lineage ran are unknown and left to the epoch order."""
        if self.config.minibatch_focus != "failures":
            return []
        known: dict[int, float] = {}
        for index in state.lineage.nearest_first(parent):
            for i, score in state.train_scores.get(state.records[index].candidate.id, {}).items():
                known.setdefault(i, score)
        return sorted(i for i, score in known.items() if score < self.config.perfect_score)

    def _count_reflection(self, state: _State, proposal: Any) -> None:
        """A reflection LM that fails on every attempt several times in a row is down."""
        if proposal.attempts and all(a.refusal == "lm-error" for a in proposal.attempts):
            state.failed_reflections += 1
            if state.failed_reflections >= self.config.max_failed_batches:
                raise SystemicFailure(f"the reflection LM failed on every attempt, {state.failed_reflections} times in a row: {proposal.attempts[-1].reply[:300]}")
        else:
            state.failed_reflections = 0

    def _extend_tie(
        self, state: _State, base: ProposalRecord, child: Candidate, parent: int, parent_sum: float, child_sum: float,
    ) -> tuple[float, float, ProposalRecord]:
        """A tie on three examples is no evidence either way: score parent and child on
        one more minibatch and judge them on both (``gate_ties: extend``). Skipped when
        the budget could not then still pay for a validation pass."""
        extra = state.sampler.next_batch(self.rng)
        if not state.budget.can_afford(2 * len(extra) + len(self.valset) + state.reserved):
            return parent_sum, child_sum, base
        more_parent = self._evaluate(state, state.records[parent].candidate, "train", extra, traces=False, kind="minibatch", pool_index=parent)
        more_child = self._evaluate(state, child, "train", extra, traces=False, kind="minibatch")
        parent_sum += float(sum(r.score for r in more_parent))
        child_sum += float(sum(r.score for r in more_child))
        note = f"tie on the minibatch; judged on {len(extra)} more examples"
        return parent_sum, child_sum, replace(base, parent_score=parent_sum, reason=note)

    def _gate_and_accept(
        self, state: _State, base: ProposalRecord, child: Candidate, parent: int, texts: dict[str, str],
        refusals: list[str], parent_sum: float, child_sum: float, *, cursor: int,
    ) -> None:
        """The minibatch gate; an accepted child joins the pool and is validated."""
        cfg = self.config
        if cfg.gate == "improve" and cfg.gate_ties == "extend" and abs(child_sum - parent_sum) <= cfg.tie_tolerance:
            parent_sum, child_sum, base = self._extend_tie(state, base, child, parent, parent_sum, child_sum)
        improved = child_sum > parent_sum + cfg.tie_tolerance if cfg.gate == "improve" else child_sum >= parent_sum - cfg.tie_tolerance
        if not improved:
            self._record(state, replace(base, status="rejected-gate", child_score=child_sum, texts=texts, refusals=tuple(refusals), rollouts_used=state.budget.used))
            return
        previous_best = float(state.table.means()[self._best(state)])
        index = self._add_candidate(state, child, (parent,), "reflection", tuple(sorted(texts)))
        # the child continues the parent's round-robin, so every module gets its turn
        state.module_cursor[index] = cursor
        parked = self._score_child(state, index, parent)
        status = "parked" if parked else "accepted"
        self._record(state, replace(base, status=status, child_score=child_sum, child_index=index, texts=texts, refusals=tuple(refusals), rollouts_used=state.budget.used))
        if parked:
            return
        self._after_scoring(state, index, previous_best)
        if cfg.use_merge and state.merges_done < cfg.max_merges and len(self.modules) > 1:
            state.merges_due += 1
        self._revisit_parked(state)

    def _module_records(self, result: ExampleResult, module: str, example: Any) -> list[ModuleRecord]:
        own = [r for r in result.records if r.module == module]
        if own:
            return own
        # A system without per-module traces: show the example-level view.
        inputs = example if isinstance(example, dict) else {"input": str(example)}
        return [ModuleRecord(module=module, inputs=inputs, output=str(result.output), feedback=result.feedback, score=result.score)]

    def _try_merge(self, state: _State) -> bool:
        """Attempt one merge; False when no merge is possible now (then reflect instead)."""
        cfg = self.config
        eligible = self._complete_rows(state)
        means = state.table.means()
        front = pareto_front(state.table.columns("instance"), tie_tolerance=cfg.tie_tolerance, eligible=eligible, means=means)
        plan = plan_merge([r.candidate for r in state.records], state.lineage, means, front.members, state.merges_tried, self.rng)
        if plan is None:
            state.merges_due = 0
            return False
        state.merges_due -= 1
        state.merges_tried.add(plan.triple)
        self._emit(IterationStarted(state.iteration, state.budget.used, parent=plan.first, kind="merge"))
        a_scores, b_scores = state.table.row(plan.first), state.table.row(plan.second)
        subsample = merge_subsample(a_scores, b_scores, cfg.merge_subsample, self.rng)
        if not state.budget.can_afford(len(self.valset)):
            return True
        modules = tuple(sorted(plan.from_second))
        base = ProposalRecord(
            iteration=state.iteration, kind="merge", parent=plan.first, modules=modules, status="",
            parent_score=float(max(a_scores[subsample].sum(), b_scores[subsample].sum())),
            texts={m: plan.candidate[m] for m in plan.candidate},
            reason=f"merge of #{plan.first} and #{plan.second} over ancestor #{plan.ancestor}",
        )
        screen = self._evaluate(state, plan.candidate, "val", subsample, traces=False, kind="merge")
        screen_sum = float(sum(r.score for r in screen))
        state.since_best += 1
        if screen_sum + cfg.tie_tolerance < base.parent_score:  # type: ignore[operator]
            self._record(state, replace(base, status="rejected-screen", child_score=screen_sum, rollouts_used=state.budget.used))
            return True
        previous_best = float(means[self._best(state)])
        index = self._add_candidate(state, plan.candidate, (plan.first, plan.second), "merge", modules, note=f"ancestor #{plan.ancestor}")
        state.merges_done += 1
        for i, result in zip(subsample, screen):
            state.table.set(index, i, result.score, dict(result.objectives or {}))
            state.val_outputs[index][i] = result.output
        self._score_on_val(state, index)
        self._record(state, replace(base, status="accepted", child_score=screen_sum, child_index=index, rollouts_used=state.budget.used))
        self._after_scoring(state, index, previous_best)
        self._revisit_parked(state)
        return True

    # ------------------------------------------------------------------ run
    def run(self) -> Result:
        cfg = self.config
        started = self.clock()
        state = _State(
            records=[], table=ScoreTable(len(self.valset), cfg.tie_tolerance), lineage=Lineage(),
            budget=Budget(cfg.max_rollouts - self.holdout_reserve),
            sampler=EpochShuffledSampler(len(self.trainset), cfg.minibatch_size),
        )
        self._emit(RunStarted(0, 0, n_train=len(self.trainset), n_val=len(self.valset), max_rollouts=cfg.max_rollouts, modules=self.modules))
        seed_index = self._add_candidate(state, self.seed_candidate, (), "seed", ())
        try:
            self._score_on_val(state, seed_index)
        except SystemicFailure as exc:
            raise SystemicFailure(
                f"every rollout of the seed candidate failed ({exc}); check that the task LM is reachable"
            ) from exc
        self._after_scoring(state, seed_index, -np.inf)

        stop_reason = "budget"
        surveyed = True
        try:
            self._survey(state, seed_index)
        except SystemicFailure as exc:
            stop_reason, surveyed = f"systemic-failure: {exc}", False
        while surveyed:
            reason = self._stop_reason(state, started)
            if reason is not None:
                stop_reason = reason
                break
            state.iteration += 1
            spent_before = state.budget.used
            try:
                if not (state.merges_due > 0 and self._try_merge(state)):
                    width = round_width(self, state) if self._parallel() else 1
                    if width > 1:
                        run_round(self, state, width)
                    else:
                        self._reflect(state)
            except SystemicFailure as exc:
                stop_reason = f"systemic-failure: {exc}"
                break
            state.idle_iterations = state.idle_iterations + 1 if state.budget.used == spent_before else 0

        holdout_scores: dict[int, float] = {}
        if self.holdout and not stop_reason.startswith("systemic") and stop_reason != "interrupted":
            state.budget.max_rollouts += self.holdout_reserve
            try:
                holdout_scores = self._holdout_check(state)
            except SystemicFailure as exc:
                stop_reason = f"systemic-failure: {exc}"
        best = self._final_choice(state, holdout_scores)
        means = state.table.means()
        self._emit(RunFinished(state.iteration, state.budget.used, stop_reason=stop_reason, best_index=best, best_val_mean=float(means[best])))
        return self._result(state, best, stop_reason, self.clock() - started, holdout_scores)

    # ------------------------------------------------------- final selection
    def _finalists(self, state: _State) -> list[int]:
        """The seed and the ``holdout_top_k`` best complete candidates by validation mean."""
        means = state.table.means()
        complete = self._complete_rows(state)
        ranked = sorted((r for r in range(len(means)) if complete[r] and r != 0), key=lambda r: (-means[r], r))
        return [0] + ranked[: self.config.holdout_top_k]

    def _holdout_check(self, state: _State) -> dict[int, float]:
        """Score the finalists on the held-out examples (paid from the reserved budget)."""
        scores: dict[int, float] = {}
        ids = list(range(len(self.holdout)))
        for index in self._finalists(state):
            results = self._evaluate(state, state.records[index].candidate, "holdout", ids, traces=False, kind="holdout", pool_index=index)
            scores[index] = float(sum(r.score for r in results))
        return scores

    def _final_choice(self, state: _State, holdout_scores: dict[int, float]) -> int:
        """Without a held-out set: the best validation mean. With one: the finalist with the
        best mean over validation and held-out examples pooled (ties: the older candidate,
        so a challenger must beat the seed on the larger sample, not merely match it)."""
        if not holdout_scores:
            return self._best(state)
        means = state.table.means()
        n_val, n_hold = len(self.valset), len(self.holdout)

        def pooled(index: int) -> float:
            return (means[index] * n_val + holdout_scores[index]) / (n_val + n_hold)

        return min(holdout_scores, key=lambda r: (-round(pooled(r), 12), r))

    def _result(self, state: _State, best: int, stop_reason: str, seconds: float, holdout_scores: dict[int, float] | None = None) -> Result:
        cfg = self.config
        scores = state.table.scores
        complete = self._complete_rows(state)
        front = pareto_front(state.table.columns("instance"), tie_tolerance=cfg.tie_tolerance, eligible=complete, means=state.table.means())
        best_outputs: list[tuple[float, Any, int]] = []
        for j in range(len(self.valset)):
            column = scores[:, j]
            k = int(np.nanargmax(np.where(np.isnan(column), -np.inf, column)))
            best_outputs.append((float(column[k]), state.val_outputs[k][j], k))
        return Result(
            best_index=best,
            candidates=list(state.records),
            val_scores=[[float(x) for x in row] for row in scores],
            val_means=[float(x) for x in state.table.means()],
            pareto_front=list(front.members),
            rollouts_used=state.budget.used,
            max_rollouts=cfg.max_rollouts,
            rollouts_by_kind=dict(state.budget.spent_by_kind),
            proposals=list(state.proposals),
            iterations=state.iteration,
            stop_reason=stop_reason,
            best_outputs=best_outputs,
            seconds=seconds,
            holdout_means={i: v / len(self.holdout) for i, v in (holdout_scores or {}).items()},
            parked=list(state.parked),
        )
