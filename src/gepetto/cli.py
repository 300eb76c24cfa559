"""The ``gepetto`` command: subcommands dispatch to their own modules."""

from __future__ import annotations

import sys
from typing import Sequence

USAGE = """usage: gepetto COMMAND [ARGS]

commands:
  demo       run a real optimization of a bundled task on the embedded local LLM
  serve-lm   serve the embedded local LLM (OpenAI-compatible, 127.0.0.1) until Ctrl-C

Run `gepetto COMMAND --help` for a command's options.
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "demo":
        from gepetto.demo import main as demo_main

        return demo_main(rest)
    if command == "serve-lm":
        from gepetto.lm.embedded import serve_lm_main

        return serve_lm_main(rest)
    print(f"gepetto: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
