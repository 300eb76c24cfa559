"""What a run directory's run *is*, so that resuming it cannot mix two experiments.

A resumed run replays stored evaluations; that is only sound when the settings that shape
the search, the data and the seed candidate are the ones the run started with. Stopping
settings (budget, time limit, patience, target) may change: raising the budget of a
finished run is a normal thing to do.

Two choices keep this useful rather than a nuisance:

* The config part holds only settings that differ from their defaults. A gepetto upgrade
  that adds a setting (with a default) does not make every earlier run unresumable.
* The parts are stored, not only their hash, so a refusal says *what* differs
  ("reflection.strategy: 'edits' here, 'rewrite' in the run; the training data") instead
  of leaving the user to guess.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from gepetto.core.config import Config
from gepetto.store.serialize import dumps

STOPPING_FIELDS = frozenset({"max_rollouts", "max_iterations", "max_seconds", "patience", "target_score"})
_DATA_NAMES = {"train": "the training data", "val": "the validation data", "seed": "the seed candidate", "holdout": "the holdout data"}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _digest(value: Any) -> str:
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunIdentity:
    """``settings``: the search-shaping config values that differ from the defaults, by
    dotted path; ``data``: a digest per data part (train, val, seed, and holdout when used)."""

    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, config: Config, trainset: Sequence[Any], valset: Sequence[Any], seed: Mapping[str, str],
        holdout: Sequence[Any] = (),
    ) -> RunIdentity:
        dumped = config.model_dump(mode="json", exclude_defaults=True)
        settings = {k: v for k, v in _flatten(dumped).items() if k.split(".")[0] not in STOPPING_FIELDS}
        data = {"train": _digest(list(trainset)), "val": _digest(list(valset)), "seed": _digest(dict(seed))}
        if holdout:
            data["holdout"] = _digest(list(holdout))
        return cls(settings, data)

    @property
    def fingerprint(self) -> str:
        return _digest({"settings": self.settings, "data": self.data})

    def to_json(self) -> str:
        return json.dumps({"settings": self.settings, "data": self.data}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunIdentity:
        raw = json.loads(text)
        return cls(dict(raw.get("settings", {})), dict(raw.get("data", {})))

    def differences(self, recorded: RunIdentity) -> list[str]:
        """What differs between this (the new request) and ``recorded`` (the run in the
        directory), in words a user can act on."""
        out: list[str] = []
        for key in sorted(set(self.settings) | set(recorded.settings)):
            here, there = self.settings.get(key, _DEFAULT), recorded.settings.get(key, _DEFAULT)
            if here != there:
                out.append(f"{key}: {_show(here)} now, {_show(there)} in the run")
        for part in ("train", "val", "seed", "holdout"):
            if self.data.get(part) != recorded.data.get(part):
                out.append(_DATA_NAMES[part])
        return out


_DEFAULT = object()  # a setting absent from one side: it has its default there


def _show(value: Any) -> str:
    return repr(value) if value is not _DEFAULT else "the default"


def legacy_fingerprint(
    config: Config, trainset: Sequence[Any], valset: Sequence[Any], seed: Mapping[str, str], holdout: Sequence[Any] = ()
) -> str:
    """The fingerprint runs recorded before :class:`RunIdentity` carry (every config field,
    defaults included): accepted on resume, so those runs stay resumable by the gepetto
    that recorded them and by this one."""
    shaping = {k: v for k, v in config.model_dump().items() if k not in STOPPING_FIELDS}
    data: dict[str, Any] = {"config": shaping, "train": list(trainset), "val": list(valset), "seed": dict(seed)}
    if holdout:
        data["holdout"] = list(holdout)
    return hashlib.sha256(dumps(data).encode("utf-8")).hexdigest()
