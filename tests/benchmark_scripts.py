"""Loading a script of ``benchmarks/`` as a module, for the tests that exercise its parts
without a server.

The scripts are not a package (each runs as ``python benchmarks/<name>.py``), so a test
loads one from its file. The module is registered in ``sys.modules`` under its own name
before it runs: dataclasses look their module up while the class is built, and scripts
import one another by name (``section_layouts`` imports ``section_pairs``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` executed afresh as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"no benchmarks/{name}.py"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
