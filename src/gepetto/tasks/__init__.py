"""Bundled tasks: real public data, fixed seeded splits, a seed program, a feedback metric.

    from gepetto.tasks import get_task, task_names
    task = get_task("bbh-date_understanding")
    system = task.make_system(task_lm)

Names: ``banking-9`` (nine card intents of BANKING77), ``banking-top-up`` and
``banking-transfer`` (two more nine-intent groups, the same protocol: development data for
choosing settings without fitting banking-9's test split), ``banking77`` (all 77 intents),
``gsm8k``, ``bbh-<task>`` for each of the 27 BIG-Bench Hard tasks, ``ifbench`` and
``ifeval`` (instruction following with verifiable constraints, a two-module program;
IFEval is also IFBench's transfer test; needs ``pip install 'gepetto[ifbench]'``) and
``pupa`` (privacy-conscious delegation, two modules around an untrusted LM:
``task.make_system(lm, untrusted_lm=None, judge_lm=None)``). Keyword arguments
(``n_train``, ``n_val``, ``n_test``, ``seed``) change the split sizes.
"""

from __future__ import annotations

from typing import Any, Callable

from gepetto.tasks.base import Task


def _banking9(**kw: Any) -> Task:
    from gepetto.tasks.banking import banking_task

    return banking_task(**kw)


def _banking_group(group: str, **kw: Any) -> Task:
    from gepetto.tasks.banking import DEV_GROUPS, banking_task

    return banking_task(DEV_GROUPS[group], distractors=(), name=f"banking-{group}", **kw)


def _banking77(**kw: Any) -> Task:
    from gepetto.tasks.banking import all_labels, banking_task

    kw.setdefault("n_train", 154)
    kw.setdefault("n_val", 154)
    kw.setdefault("n_test", 300)
    return banking_task(all_labels(), distractors=(), name="banking77", **kw)


def _gsm8k(**kw: Any) -> Task:
    from gepetto.tasks.gsm8k import gsm8k_task

    return gsm8k_task(**kw)


def _ifbench(**kw: Any) -> Task:
    from gepetto.tasks.ifbench import ifbench_task

    return ifbench_task(**kw)


def _ifeval(**kw: Any) -> Task:
    from gepetto.tasks.ifbench import ifeval_task

    return ifeval_task(**kw)


def _pupa(**kw: Any) -> Task:
    from gepetto.tasks.pupa import pupa_task

    return pupa_task(**kw)


def _registry() -> dict[str, Callable[..., Task]]:
    from gepetto.tasks.bbh import bbh_names, bbh_task

    tasks: dict[str, Callable[..., Task]] = {
        "banking-9": _banking9, "banking77": _banking77, "gsm8k": _gsm8k,
        "ifbench": _ifbench, "ifeval": _ifeval, "pupa": _pupa,
    }
    for group in ("top-up", "transfer"):
        tasks[f"banking-{group}"] = lambda _g=group, **kw: _banking_group(_g, **kw)
    for name in bbh_names():
        tasks[f"bbh-{name}"] = lambda _n=name, **kw: bbh_task(_n, **kw)
    return tasks


def task_names() -> list[str]:
    return list(_registry())


def get_task(name: str, **kwargs: Any) -> Task:
    """The bundled task called ``name``; unknown names get the list of known ones."""
    registry = _registry()
    if name not in registry:
        import difflib

        close = [n for n in registry if name.lower() in n][:3] or difflib.get_close_matches(name, registry, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"no bundled task {name!r}.{hint} Known tasks: {', '.join(registry)}")
    return registry[name](**kwargs)


__all__ = ["Task", "get_task", "task_names"]
