"""``python -m gepetto.report RUN_DIR [-o FILE]``."""

from gepetto.report.cli import main

raise SystemExit(main())
