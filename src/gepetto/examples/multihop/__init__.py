"""Two-hop question answering over a local document collection with BM25.

    python -m gepetto.examples.multihop [--model 1.5b] [--budget 150] [--strategy edits]

See :mod:`gepetto.examples.multihop.corpus` (the fictional encyclopedia and questions)
and :mod:`gepetto.examples.multihop.pipeline` (the three-module program and its
per-hop feedback metric).
"""

from __future__ import annotations

from gepetto.examples.multihop.corpus import Document, Question, World, build_world, splits
from gepetto.examples.multihop.pipeline import BM25Index, multihop_metric, multihop_system

__all__ = ["BM25Index", "Document", "Question", "World", "build_world", "multihop_metric", "multihop_system", "splits"]
