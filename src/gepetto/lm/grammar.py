"""GBNF (llama.cpp grammar) pieces shared by everything that constrains a reply.

Why one place: a literal must escape backslashes, quotes and control characters the same way
wherever a grammar is built (the typed edits' reply forms, the gold-answer forcing grammar).
"""

from __future__ import annotations


def gbnf_literal(text: str) -> str:
    """``text`` as a quoted GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'
