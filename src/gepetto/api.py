"""The public entry point: ``gepetto.optimize``."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

from gepetto.core.candidate import Candidate
from gepetto.core.config import Config
from gepetto.core.engine import Engine
from gepetto.core.events import Observer
from gepetto.core.result import Result
from gepetto.lm.base import LM, UsageTracker
from gepetto.proposers.base import Proposer
from gepetto.proposers.reflective import ReflectiveProposer
from gepetto.systems.adapter import System


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
    config: Config | None = None,
    proposer: Proposer | None = None,
    observers: Sequence[Observer] = (),
    usage: UsageTracker | None = None,
    stop: StopFlag | None = None,
) -> Result:
    """Optimize the texts of ``system`` with GEPA and return the best candidate found.

    ``seed_candidate`` defaults to ``system.seed_candidate``. ``reflection_lm`` writes the
    new texts (or pass a custom ``proposer``). ``usage``, when given, is the tracker the
    LMs record into; its per-role totals are copied into ``Result.lm_usage``.
    Ctrl-C stops after the current step and still returns a result.
    """
    config = config or Config()
    seed = seed_candidate if seed_candidate is not None else getattr(system, "seed_candidate", None)
    if seed is None:
        raise ValueError("no seed candidate: pass seed_candidate={module: text} or give the system a seed_candidate attribute")
    if proposer is None:
        if reflection_lm is None:
            raise ValueError("pass reflection_lm= (the LM that writes new instructions) or a custom proposer=")
        proposer = ReflectiveProposer(reflection_lm, config.reflection, perfect_score=config.perfect_score)
    stop = stop or StopFlag()
    engine = Engine(
        system, trainset, valset, Candidate(seed), proposer, config, observers=observers, stop_requested=stop,
    )
    with graceful_sigint(stop):
        result = engine.run()
    if usage is not None:
        from dataclasses import replace

        result = replace(result, lm_usage=usage.as_dict())
    return result
