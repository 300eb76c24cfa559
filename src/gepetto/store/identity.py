"""What a run directory's run *is*, so that resuming it cannot mix two experiments.

A resumed run replays stored evaluations; that is only sound when the settings that shape
the search, the data and the seed candidate are the ones the run started with. Stopping
settings (budget, time limit, patience, target) may change: raising the budget of a
finished run is a normal thing to do.

Two choices keep this useful rather than a nuisance:

* Settings are compared one by one, and a setting the recorded run does not know (one a
  gepetto upgrade added) counts only when it is set to something other than its default:
  an upgrade does not make every earlier run unresumable. A default an upgrade *changed*
  is a difference (the run's value is recorded, not assumed).
* The parts are stored, not only their hash, so a refusal says *what* differs
  ("minibatch_size: 2 now, 3 in the run; the training data") instead of leaving
  the user to guess.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from gepetto.core.config import Config
from gepetto.store.serialize import dumps, to_jsonable

STOPPING_FIELDS = frozenset({"max_rollouts", "max_iterations", "max_seconds", "patience", "target_score"})
# Settings added after runs stopped recording the legacy fingerprint, as (section, name): at
# their defaults they are left out of it, so such runs keep matching.
LEGACY_UNKNOWN: tuple[tuple[str, str], ...] = (
    ("reflection", "definition_wording"), ("reflection", "definition_samples"), ("reflection", "definition_examples"),
    ("reflection", "definition_distinct"),
    ("reflection", "unseen_definition"), ("reflection", "demonstrations_layout"), ("reflection", "definition_set_retries"),
)
_RESOLVED = " (resolved)"  # suffix of a choice made from more than the config (see RunIdentity.of)
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


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable(value: Any) -> Any:
    """The JSON form of a data example that ``to_jsonable`` cannot render, the same in every
    process: a plain object by its attributes, anything else as text without memory
    addresses (``<Example object at 0x7f...>`` would make every resume of a run over such
    examples look like a change of data)."""
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {"__type__": type(value).__qualname__, **{k: to_jsonable(v, _stable) for k, v in vars(value).items()}}
    return _ADDRESS.sub("", str(value))


def _digest(value: Any) -> str:
    return hashlib.sha256(dumps(value, fallback=_stable).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunIdentity:
    """``settings``: every search-shaping config value by dotted path (stopping settings
    left out); ``defaults``: the paths whose value is the config class's default;
    ``data``: a digest per data part (train, val, seed, and holdout when used)."""

    settings: dict[str, Any] = field(default_factory=dict)
    defaults: frozenset[str] = frozenset()
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, config: Config, trainset: Sequence[Any], valset: Sequence[Any], seed: Mapping[str, str],
        holdout: Sequence[Any] = (), resolved: Mapping[str, Any] | None = None,
    ) -> RunIdentity:
        """``resolved``: choices made from more than the config, by the path they resolve
        (``reflection.strategy: auto`` becomes edits or rewrite by the reflection model's
        size), compared like settings."""
        settings = {
            k: v for k, v in _flatten(config.model_dump(mode="json")).items()
            if k.split(".")[0] not in STOPPING_FIELDS and (holdout or not k.startswith("holdout_"))  # inert without a holdout
        }
        for key, value in (resolved or {}).items():
            settings[key + _RESOLVED] = value
        changed = _flatten(config.model_dump(mode="json", exclude_defaults=True))
        data = {"train": _digest(list(trainset)), "val": _digest(list(valset)), "seed": _digest(dict(seed))}
        if holdout:
            data["holdout"] = _digest(list(holdout))
        return cls(settings, frozenset(k for k in settings if k not in changed and not k.endswith(_RESOLVED)), data)

    @property
    def fingerprint(self) -> str:
        return _digest({"settings": self.settings, "data": self.data})

    def to_json(self) -> str:
        return json.dumps({"settings": self.settings, "defaults": sorted(self.defaults), "data": self.data}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunIdentity:
        raw = json.loads(text)
        return cls(dict(raw.get("settings", {})), frozenset(raw.get("defaults", ())), dict(raw.get("data", {})))

    def differences(self, recorded: RunIdentity) -> list[str]:
        """What differs between this (the new request) and ``recorded`` (the run in the
        directory), in words a user can act on; empty when the run may be resumed."""
        out: list[str] = []
        for key in sorted(set(self.settings) | set(recorded.settings)):
            if key not in recorded.settings:
                if key not in self.defaults and not key.endswith(_RESOLVED):  # a setting the run predates, set on purpose now
                    out.append(f"{key}: {self.settings[key]!r} now, not a setting when the run started")
            elif key not in self.settings:
                continue  # a setting this version no longer has (or a choice the run did not record): nothing to compare
            elif self.settings[key] != recorded.settings[key]:
                out.append(f"{key}: {self.settings[key]!r} now, {recorded.settings[key]!r} in the run")
        for part in ("train", "val", "seed", "holdout"):
            if self.data.get(part) != recorded.data.get(part):
                out.append(_DATA_NAMES[part])
        return out


def legacy_fingerprint(
    config: Config, trainset: Sequence[Any], valset: Sequence[Any], seed: Mapping[str, str], holdout: Sequence[Any] = ()
) -> str:
    """The fingerprint runs recorded before :class:`RunIdentity` carry (every config field,
    defaults included): accepted on resume, so those runs stay resumable by the gepetto
    that recorded them and by this one."""
    shaping = {k: v for k, v in config.model_dump().items() if k not in STOPPING_FIELDS}
    defaults = Config().model_dump()
    for section, name in LEGACY_UNKNOWN:  # settings added later: a run recorded then had none of them
        if section in shaping and shaping[section].get(name) == defaults[section].get(name):
            shaping[section] = {k: v for k, v in shaping[section].items() if k != name}
    data: dict[str, Any] = {"config": shaping, "train": list(trainset), "val": list(valset), "seed": dict(seed)}
    if holdout:
        data["holdout"] = list(holdout)
    return hashlib.sha256(dumps(data).encode("utf-8")).hexdigest()
