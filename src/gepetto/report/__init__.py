"""``gepetto report``: one self-contained HTML page that shows a run.

>>> from gepetto.report import write_report
>>> write_report("runs/my-run")            # doctest: +SKIP
PosixPath('runs/my-run/report.html')

The page has no external resource (inline CSS, hand-drawn SVG, a small inline script
for tooltips and highlighting) and escapes every text it shows.
"""

from gepetto.report.cli import main
from gepetto.report.data import ReportError, RunData, load_run
from gepetto.report.diff import diff_html, diff_ops
from gepetto.report.page import render_html, write_report

__all__ = ["ReportError", "RunData", "diff_html", "diff_ops", "load_run", "main", "render_html", "write_report"]
