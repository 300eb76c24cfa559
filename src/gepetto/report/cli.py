"""``gepetto report RUN_DIR [-o FILE]``: write a run's self-contained HTML report."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from gepetto.report.data import ReportError
from gepetto.report.page import write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gepetto report",
        description="Write one self-contained HTML page (charts, lineage, score matrix, text diffs) "
        "for a run directory. Works on finished, interrupted and running runs.",
    )
    parser.add_argument("run_dir", help="the run directory (holds run.sqlite)")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write the page (default: RUN_DIR/report.html)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        out = write_report(args.run_dir, args.output)
    except ReportError as exc:
        print(f"gepetto report: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
