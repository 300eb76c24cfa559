"""Word-level diff of two texts, as operations and as escaped HTML (difflib)."""

from __future__ import annotations

import difflib
import re
from html import escape

# Words, runs of spaces, newlines and single punctuation marks: a diff of prompts reads
# best at the word level, and keeping whitespace as tokens reproduces the texts exactly.
_TOKEN = re.compile(r"\n|[^\S\n]+|\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def diff_ops(old: str, new: str) -> list[tuple[str, str]]:
    """``[(op, text)]`` with op in ``equal``, ``delete``, ``insert``; joining the
    ``equal`` and ``delete`` parts gives ``old``, the ``equal`` and ``insert`` parts ``new``.
    Adjacent operations of the same kind are merged."""
    a, b = tokenize(old), tokenize(new)
    ops: list[tuple[str, str]] = []

    def push(op: str, text: str) -> None:
        if not text:
            return
        if ops and ops[-1][0] == op:
            ops[-1] = (op, ops[-1][1] + text)
        else:
            ops.append((op, text))

    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            push("equal", "".join(a[i1:i2]))
        else:  # replace = delete then insert; keep them adjacent, deletion first
            push("delete", "".join(a[i1:i2]))
            push("insert", "".join(b[j1:j2]))
    return _absorb_whitespace(ops)


def _absorb_whitespace(ops: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A lone space or bit of punctuation kept as ``equal`` between two changes makes a
    choppy diff ("-a- +b+ -c- +d+"); fold such glue into both sides of one larger change."""
    segments: list[list] = []  # ["equal", text] or ["change", deleted, inserted]
    for op, text in ops:
        if op == "equal":
            segments.append(["equal", text])
        elif segments and segments[-1][0] == "change":
            segments[-1][1 if op == "delete" else 2] += text
        else:
            segments.append(["change", text if op == "delete" else "", text if op == "insert" else ""])
    folded: list[list] = []
    i = 0
    while i < len(segments):
        seg = segments[i]
        if (
            seg[0] == "equal" and folded and folded[-1][0] == "change" and i + 1 < len(segments)
            and segments[i + 1][0] == "change" and _is_glue(seg[1])
        ):
            nxt = segments[i + 1]
            folded[-1] = ["change", folded[-1][1] + seg[1] + nxt[1], folded[-1][2] + seg[1] + nxt[2]]
            i += 2
            continue
        folded.append(seg)
        i += 1
    out: list[tuple[str, str]] = []
    for seg in folded:
        if seg[0] == "equal":
            out.append(("equal", seg[1]))
        else:
            if seg[1]:
                out.append(("delete", seg[1]))
            if seg[2]:
                out.append(("insert", seg[2]))
    return out


def _is_glue(text: str) -> bool:
    """Short, wordless, on one line: a space, ``. ``, ``<``, ``", "``..."""
    return len(text) <= 3 and "\n" not in text and not re.search(r"\w", text)


def diff_stats(old: str, new: str) -> tuple[int, int]:
    """(words removed, words added)."""
    removed = added = 0
    for op, text in diff_ops(old, new):
        words = len(re.findall(r"\w+", text))
        if op == "delete":
            removed += words
        elif op == "insert":
            added += words
    return removed, added


def diff_html(old: str, new: str) -> str:
    """Inline diff as HTML: ``<del>`` removed, ``<ins>`` added, text escaped."""
    parts = []
    for op, text in diff_ops(old, new):
        t = escape(text)
        if op == "equal":
            parts.append(t)
        elif op == "delete":
            parts.append(f'<del class="d-del">{t}</del>')
        else:
            parts.append(f'<ins class="d-ins">{t}</ins>')
    return "".join(parts)
