"""The ``gepetto`` command: each subcommand lives in its own module and is imported
only when used, so ``gepetto --help`` stays instant."""

from __future__ import annotations

import sys
from typing import Callable, Sequence

USAGE = """usage: gepetto COMMAND [ARGS]

commands:
  optimize TASK.yaml   optimize the program a task file describes (records the run)
  resume RUN_DIR       continue an interrupted run where it stopped
  show RUN_DIR         summary: candidates ranked, Pareto front, lineage, spend, best texts
  report RUN_DIR       write a self-contained HTML report of a run
  evaluate RUN_DIR     score the best (or --candidate N) candidate on --split test|val|train
  transfer RUN_DIR     score the seed and the best candidate with another task model
  export RUN_DIR       the run as JSON (candidates, lineage, per-instance scores, proposals)
  runs [DIR]           list the runs under DIR (default: runs/)
  tasks                list the bundled tasks (real public data, seeded splits)
  demo                 a real optimization of a bundled task on the embedded local LLM
  serve-lm             serve the embedded local LLM (OpenAI-compatible, 127.0.0.1) until Ctrl-C

Run `gepetto COMMAND --help` for a command's options.
"""


def _command(name: str) -> Callable[[Sequence[str]], int] | None:
    if name == "optimize":
        from gepetto.cli.run import optimize_main

        return optimize_main
    if name == "resume":
        from gepetto.cli.run import resume_main

        return resume_main
    if name == "evaluate":
        from gepetto.cli.run import evaluate_main

        return evaluate_main
    if name == "transfer":
        from gepetto.cli.run import transfer_main

        return transfer_main
    if name == "show":
        from gepetto.cli.inspect import show_main

        return show_main
    if name == "export":
        from gepetto.cli.inspect import export_main

        return export_main
    if name == "runs":
        from gepetto.cli.inspect import runs_main

        return runs_main
    if name == "report":
        try:
            from gepetto.report import main as report_main
        except ImportError:
            return None
        return report_main
    if name == "tasks":
        from gepetto.cli.inspect import tasks_main

        return tasks_main
    if name == "demo":
        from gepetto.demo import main as demo_main

        return demo_main
    if name == "serve-lm":
        from gepetto.lm.embedded import serve_lm_main

        return serve_lm_main
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    handler = _command(args[0])
    if handler is None:
        print(f"gepetto: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return handler(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
