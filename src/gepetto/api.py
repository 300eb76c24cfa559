"""The public entry point: ``gepetto.optimize``."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.core.config import Config
from gepetto.core.coverage import label_coverage
from gepetto.core.engine import Engine
from gepetto.core.events import Observer
from gepetto.core.result import Result
from gepetto.lm.base import LM, UsageTracker
from gepetto.proposers.base import Proposer, model_name
from gepetto.proposers.reflective import ReflectiveProposer
from gepetto.systems.adapter import System


_log = logging.getLogger("gepetto")


def _model_names(system: System, reflection_lm: LM | None) -> dict[str, str]:
    """The task and reflection models' names where they are known, for the run's identity:
    a resumed run replays the stored evaluations, which another task model did not make.
    Names, not endpoints: the embedded server gets a new port every start. Only a system
    with an ``lm`` attribute (PromptSystem, ProgramSystem) names its task model; LMs
    without a model name (scripted test LMs) record nothing."""
    names: dict[str, str] = {}
    task = model_name(getattr(system, "lm", None))
    if task:
        names["task_lm.model"] = task
    reflection = model_name(reflection_lm) if reflection_lm is not None else None
    if reflection:
        names["reflection_lm.model"] = reflection
    return names


def _coverage_warnings(system: System, trainset: Sequence[Any], valset: Sequence[Any]) -> tuple[str, ...]:
    """Labels a classifier's validation set misses, or only it shows (see
    ``gepetto.core.coverage``); only
    systems that declare their labels (``PromptSystem(labels=...)``: the classifiers of
    task files and the bundled banking tasks) and name each example's answer are checked."""
    declared = getattr(system, "labels", None)
    if declared is None or not callable(getattr(system, "labelled_inputs", None)):
        return ()  # not a declared classifier: its answers are not classes
    try:
        train = [expected for _, expected in system.labelled_inputs(trainset)]
        val = [expected for _, expected in system.labelled_inputs(valset)]
        return label_coverage(train, val, [str(label) for label in declared])
    except Exception as exc:  # noqa: BLE001 - a check before the run must never stop it
        _log.debug("validation coverage not checked: %s", exc)
        return ()


class StopFlag:
    """Set by the first Ctrl-C (or by code): the run finishes its step and returns."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


@contextmanager
def graceful_sigint(flag: StopFlag) -> Iterator[None]:
    """First Ctrl-C asks the run to stop after the current step; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if flag():
            signal.signal(signal.SIGINT, previous if callable(previous) else signal.default_int_handler)
            raise KeyboardInterrupt
        flag.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def optimize(
    system: System,
    trainset: Sequence[Any],
    valset: Sequence[Any],
    *,
    reflection_lm: LM | None = None,
    seed_candidate: Mapping[str, str] | None = None,
    config: Config | Mapping[str, Any] | None = None,
    proposer: Proposer | None = None,
    observers: Sequence[Observer] = (),
    usage: UsageTracker | None = None,
    stop: StopFlag | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    force: bool = False,
    holdout: Sequence[Any] = (),
) -> Result:
    """Optimize the texts of ``system`` with GEPA and return the best candidate found.

    ``seed_candidate`` defaults to ``system.seed_candidate``. ``reflection_lm`` writes the
    new texts (or pass a custom ``proposer``). ``usage``, when given, is the tracker the
    LMs record into; its per-role totals are copied into ``Result.lm_usage``.
    Ctrl-C (or creating the file ``RUN_DIR/STOP``) stops after the current step and still
    returns a result.

    ``holdout``: optional examples kept apart from selection during the run. At the end
    the seed and the ``config.holdout_top_k`` best candidates by validation mean are scored
    on them (from rollouts kept back for it), and the best mean over validation and
    held-out examples pooled wins: a guard against picking a candidate that was merely
    lucky on a small validation set.

    ``run_dir`` records the run as it goes (SQLite, see :mod:`gepetto.store`). With
    ``resume=True`` an interrupted run in ``run_dir`` continues where it stopped: the loop
    is replayed from the stored evaluations and the run's own cache of reflection replies
    (no system or model call for anything already done), then goes on. The stopping
    settings (budget, time, patience) may differ on resume; anything else that shapes the
    run must match, or the run directory is refused (``force=True`` overrides).
    """
    if config is None:
        config = Config()
    elif isinstance(config, Mapping):
        config = Config.model_validate(dict(config))
    elif not isinstance(config, Config):
        raise TypeError(f"config must be a gepetto.Config (or a dict of its settings), not {type(config).__name__}")
    seed = seed_candidate if seed_candidate is not None else getattr(system, "seed_candidate", None)
    if seed is None:
        raise ValueError("no seed candidate: pass seed_candidate={module: text} or give the system a seed_candidate attribute")
    resolved: dict[str, str] = _model_names(system, reflection_lm if proposer is None else None)
    if proposer is None:
        if reflection_lm is None:
            raise ValueError("pass reflection_lm= (the LM that writes new instructions) or a custom proposer=")
        from gepetto.proposers.base import resolve_strategy

        resolved["reflection.strategy"] = resolve_strategy(config.reflection.strategy, reflection_lm)
        if resolved["reflection.strategy"] == "edits":
            from gepetto.proposers.edits import EditProposer, _meaningless_labels

            proposer = EditProposer(
                reflection_lm, config.reflection, perfect_score=config.perfect_score,
                use_grammar=config.reflection.use_grammar,
            )
            if hasattr(system, "labelled_inputs"):
                proposer.prime(system.labelled_inputs(trainset))
            declared = list(getattr(system, "labels", None) or [])
            if config.reflection.define_unseen_labels and declared and not _meaningless_labels(declared):
                proposer.labels = declared  # the whole answer set, with the labels no training example shows
            if config.reflection.definition_choice == "likelihood":
                proposer.likelihood = _validation_likelihood(system, valset, seed, run_dir)
                proposer.likelihood_cost = len(valset)
        else:
            proposer = ReflectiveProposer(reflection_lm, config.reflection, perfect_score=config.perfect_score)
    for warning in _coverage_warnings(system, trainset, valset):
        _log.warning("gepetto: warning: %s", warning)
    stop = stop or StopFlag()
    store = None
    observers = list(observers)
    if run_dir is not None:
        from gepetto.store import RunStore
        from gepetto.store.identity import RunIdentity, legacy_fingerprint

        store = RunStore(run_dir)
        observers.insert(0, store)
        if reflection_lm is not None and getattr(proposer, "lm", None) is reflection_lm:
            proposer.lm = _run_local_cache(reflection_lm, Path(run_dir))
    elif resume:
        raise ValueError("resume=True needs run_dir= (the directory of the run to continue)")
    stop_file = Path(run_dir) / STOP_FILE if run_dir is not None else None

    def stop_requested() -> bool:  # Ctrl-C, or `touch RUN_DIR/STOP` from anywhere
        return stop() or (stop_file is not None and stop_file.exists())

    try:
        engine = Engine(
            system, trainset, valset, Candidate(seed), proposer, config, observers=observers,
            stop_requested=stop_requested, replay=store if resume else None, holdout=holdout,
        )
        if store is not None:
            # claimed only now that the inputs passed validation (Engine checks them)
            store.begin(
                RunIdentity.of(config, trainset, valset, seed, holdout, resolved), {"config": config.model_dump()}, resume=resume,
                force=force, also_accept=(legacy_fingerprint(config, trainset, valset, seed, holdout),),
            )
    except Exception:
        if store is not None:
            store.close()
        raise
    if run_dir is not None:
        (Path(run_dir) / STOP_FILE).unlink(missing_ok=True)  # a stale request must not stop the new run
    try:
        with graceful_sigint(stop):
            result = engine.run()
        if store is not None and usage is not None:
            store.set_meta("lm_usage", json.dumps(usage.as_dict()))
    finally:
        if store is not None:
            store.close()
    if usage is not None:
        from dataclasses import replace

        result = replace(result, lm_usage=usage.as_dict())
    return result


def _validation_likelihood(
    system: System, valset: Sequence[Any], seed: Mapping[str, str], run_dir: str | os.PathLike[str] | None,
) -> Callable[[str], list[float | None]]:
    """``reflection.definition_choice: likelihood``: a text -> the gold label's
    log-probability per validation example, for EditProposer. With a run directory the
    calls are kept in the run's own cache, so a resumed run re-reads them (the task model
    is not bit-reproducible across batches) and chooses the same set."""
    from gepetto.systems.likelihood import answer_logprobs

    if getattr(system, "expected", None) is None or not hasattr(system, "messages") or not hasattr(system, "module"):
        raise ValueError(
            "reflection.definition_choice 'likelihood' scores gold labels with the task model: it needs a "
            "single-module PromptSystem that knows each example's answer (expected=...); use "
            "definition_choice: validation for other systems"
        )
    examples = list(valset)
    lm = system.lm  # type: ignore[attr-defined]
    if run_dir is not None:
        from gepetto.lm.cache import CachedLM, ResponseCache

        lm = CachedLM(lm, ResponseCache(Path(run_dir) / "likelihood_cache.sqlite"))

    def score(text: str) -> list[float | None]:
        return answer_logprobs(system, Candidate({**seed, system.module: text}), examples, lm=lm)  # type: ignore[attr-defined]

    return score


STOP_FILE = "STOP"


def _run_local_cache(lm: LM, run_dir: Path) -> LM:
    """Keep every reflection reply in the run directory, so a resumed run re-reads the
    replies of the interrupted one instead of sampling new ones."""
    from gepetto.lm.cache import CachedLM, ResponseCache

    return CachedLM(lm, ResponseCache(run_dir / "reflection_cache.sqlite"), cache_sampled=True)
