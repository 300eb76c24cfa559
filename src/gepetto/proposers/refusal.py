"""Cheap checks that refuse unusable proposals before any rollout is spent on them.

Every rule was written against real bad outputs of small reflection models (see the
tests): assistant chatter, echoes of the rendered examples, template fragments, copies of
training inputs, truncated replies. A refusal is counted and shown, never adopted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

_CHATTER = re.compile(
    r"(please (provide|share|send|give me)|could you (please )?(provide|share|clarify|send)"
    r"|i need (more|the) (information|details|inputs?|context)"
    r"|as an ai\b|i('m| am) (sorry|unable|not able)|i apologi[sz]e|i (cannot|can't|can not) (help|assist)"
    r"|what (would you like|do you want) me to)",
    re.IGNORECASE,
)
# Quoted spans are content (an instruction may quote a polite question the bot should
# ask); chatter is what the reply itself says, so quotes are removed before matching.
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|(?<!\w)'[^'\n]+'(?!\w)")
_ECHO_MARKERS = re.compile(
    r"(^|\n)\s*(#+\s*)?(current instruction|current text|what happened|evaluation \d+ \(score|case \d+ \((correct|wrong)|example \d+\s*[-—:]"
    r"|model answer:|model output:|feedback:|##\s*inputs|##\s*generated outputs|##\s*feedback)",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(
    r"^\s*[\[<{(][^\]>})]{0,60}\b(instruction|prompt|text)s?\b[^\]>})]{0,30}[\]>})]\s*$"
    r"|^\s*[{}\[\]()<>`.…-]*\s*$",
    re.IGNORECASE,
)
# A lead-in with nothing after it ("Here is the improved instruction:").
_BARE_LEADIN = re.compile(r"^[^\n]{0,80}:\s*$")
_FORMAT_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_WORD = re.compile(r"\w+", re.UNICODE)


# Scripts a text may use without being a language switch: Latin (with its accents) and the
# letters of mathematical notation.
_OWN_SCRIPTS = frozenset({"LATIN", "GREEK", "MATHEMATICAL"})


def scripts(text: str) -> set[str]:
    """The writing systems of ``text``'s letters beyond Latin and Greek, by the first word of
    each letter's Unicode name (``CJK``, ``HIRAGANA``, ``CYRILLIC``, ``ARABIC`` ...)."""
    out: set[str] = set()
    for ch in set(text):
        if ch.isalpha() and ord(ch) > 0x24F:
            name = unicodedata.name(ch, "UNNAMED").split(" ")[0]
            if name not in _OWN_SCRIPTS:
                out.add(name)
    return out


def foreign_scripts(text: str, context: Iterable[str]) -> list[str]:
    """Writing systems ``text`` uses that none of ``context`` (the parent text, the training
    inputs) does. Why: Qwen-family small models switch into Chinese mid-sentence ("… the
    payment method not being recognized, the卡"), and such a line is garbage to a task
    model that reads English; a script the task's own data uses is left alone."""
    mine = scripts(text)
    if not mine:
        return []
    for other in context:
        mine -= scripts(other)
        if not mine:
            return []
    return sorted(mine)


def normalize(text: str) -> str:
    """Whitespace- and case-folded form used for 'unchanged' and 'seen before' checks."""
    return " ".join(text.lower().split())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass
class RefusalRules:
    """The refusal rules of one run, with the memory of every text proposed so far."""

    max_chars: int = 6000
    copy_ngram: int = 8
    min_words: int = 3
    check_placeholders: bool = True
    enabled: bool = True  # False: only empty replies are refused (the paper's loop)
    seen: set[str] = field(default_factory=set)

    def check(
        self,
        text: str,
        *,
        parent_text: str,
        training_inputs: Iterable[str] = (),
        truncated: bool = False,
        allowed: str = "",
    ) -> str | None:
        """The reason to refuse ``text``, or None when it may be evaluated.

        ``allowed``: new text that holds training inputs on purpose (a demonstrations
        section built by code); its words do not count as copied.
        Also records the text as seen (refused or not), so the same proposal is never
        paid for twice.
        """
        reason = self._reason(text, parent_text, training_inputs, truncated, allowed)
        self.seen.add(normalize(text))
        return reason

    def _reason(
        self, text: str, parent_text: str, training_inputs: Iterable[str], truncated: bool, allowed: str = "",
    ) -> str | None:
        stripped = text.strip()
        training_inputs = list(training_inputs)  # read by two rules
        if not stripped:
            return "empty"
        if not self.enabled:
            return None
        if truncated:
            return "truncated"
        norm = normalize(stripped)
        if norm == normalize(parent_text):
            return "unchanged"
        if norm in self.seen:
            return "seen-before"
        if len(stripped) > self.max_chars:
            return "too-long"
        if _PLACEHOLDER.match(stripped) or _BARE_LEADIN.match(stripped) or len(_WORD.findall(stripped)) < self.min_words:
            return "fragment"
        if _CHATTER.search(_QUOTED.sub("", stripped)):
            return "chatter"
        if _ECHO_MARKERS.search(stripped):
            return "echo"
        foreign = foreign_scripts(stripped, [parent_text, allowed, *training_inputs])
        if foreign:
            return "foreign-script:" + ",".join(foreign)
        missing = set(_FORMAT_FIELD.findall(parent_text)) - set(_FORMAT_FIELD.findall(stripped))
        if missing and self.check_placeholders:
            return "dropped-placeholder:" + ",".join(sorted(missing))
        if self.copies_training_input(stripped, parent_text + "\n" + allowed if allowed else parent_text, training_inputs):
            return "copied-training-input"
        return None

    def line_reason(self, line: str, parent_text: str, training_inputs: Sequence[str]) -> str | None:
        """The rules about content that also apply to one line of a larger edit (a label's
        definition in a set): a pasted training input, a switch into another writing system.
        Why separate: a bad line is re-asked alone instead of refusing the whole set."""
        if self.copies_training_input(line, parent_text, training_inputs):
            return "copied-training-input"
        foreign = foreign_scripts(line, [parent_text, *training_inputs]) if self.enabled else []
        return "foreign-script:" + ",".join(foreign) if foreign else None

    def copies_training_input(self, text: str, parent_text: str, training_inputs: Iterable[str]) -> bool:
        """True when ``text`` holds ``copy_ngram`` consecutive words of a training input
        that the parent text does not already hold."""
        if not self.enabled or self.copy_ngram <= 0:
            return False
        words = [w.lower() for w in _WORD.findall(text)]
        parent_grams = _ngrams([w.lower() for w in _WORD.findall(parent_text)], self.copy_ngram)
        mine = _ngrams(words, self.copy_ngram) - parent_grams
        if not mine:
            return False
        # An n-gram found in many training inputs is the task's own template
        # ("the town where the ... was born"), which an instruction may well
        # name; one found in only a few inputs is a pasted example.
        sources = [_ngrams([w.lower() for w in _WORD.findall(src)], self.copy_ngram) for src in training_inputs]
        limit = max(2, len(sources) // 10)
        return any(0 < sum(1 for grams in sources if gram in grams) <= limit for gram in mine)
