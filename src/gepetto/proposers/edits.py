"""Typed edits for small reflection models: the model writes one short line, code edits
the instruction.

Why: asked to rewrite a whole instruction from rendered traces, a 0.5B-1.5B model mostly
returns chatter, echoes of the examples or near-copies of the old text (see
docs/measurements.md). Asked for one thing in a fixed form — a definition of one label that tells
it apart from the label it was confused with, or one general rule — it answers usably.
The error analysis (which label was confused with which, which examples show it) is done
here in code, and the edit is applied by code, so the instruction keeps its structure:

    <the instruction>

    Label definitions:
    - card_arrival: ...
    - lost_or_stolen_card: ...

    Rules:
    - ...

    Worked example (solve every input step by step like this, then give the answer line):
    Input: <a training input>
    1. <a step>
    2. <a step>
    <the final answer line, in the form the task's correct replies use>

or, for a classifier,

    Examples:
    Input: <a training input>
    <its label, in the form of the task's own correct replies>
    ...

or, with ``reflection.demonstrations_layout: labelled``, label first, every label named:

    Examples:
    card_arrival: "<a training input>"
    ...
    card_swallowed: (no example)

The demonstrations section (``reflection.demonstrations``) is the one section built from
training inputs on purpose. A classifier's holds one training input per label, chosen by
code. A worked example's steps are written by the reflection LM with the gold answer in
view and checked by code to arrive at it. Both end in answer lines of the exact form the
metric accepted in the task's own correct replies, so they never teach a wrong answer or
a wrong format.
"""

from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from gepetto.core.candidate import Candidate
from gepetto.core.config import ReflectionConfig
from gepetto.lm.base import LM, LikelihoodUnsupported, LMError
from gepetto.lm.grammar import gbnf_literal
from gepetto.proposers.arithmetic import NUMBER_TEXT, wrong_equation
from gepetto.proposers.base import Attempt, Proposal
from gepetto.proposers.consensus import consensus_index
from gepetto.proposers.distinct import blurred_pairs, label_to_rewrite, line_words, overlap_coefficient, shared_name_words
from gepetto.proposers.refusal import RefusalRules, normalize
from gepetto.systems.adapter import ModuleRecord
from gepetto.proposers.neighbours import nearest_labels, spread_texts
from gepetto.systems.likelihood import paired_means
from gepetto.systems.metrics import LabelMetric

_log = logging.getLogger(__name__)

DEFINITIONS_HEADER = "Label definitions:"
RULES_HEADER = "Rules:"
EXAMPLE_HEADER = "Worked example (solve every input step by step like this, then give the answer line):"
LABELLED_HEADER = "Examples:"
EDIT_SYSTEM_PROMPT = "You write short, general guidance for a text classifier or assistant. You reply with one line only."
SOLVE_SYSTEM_PROMPT = "You explain solutions step by step, briefly and correctly. You reply with the numbered steps only."

_LINE = re.compile(r"^\s*-\s*([^:\n]+):\s*(.+)$")
NO_EXAMPLE = "(no example)"
# a line of the label-first examples section: label, then a quoted input or NO_EXAMPLE
_LABELLED_LINE = re.compile(r'^[^\s:"][^:\n]*: (?:"[^\n]*"|' + re.escape(NO_EXAMPLE) + r')\s*$')


def split_sections(text: str) -> tuple[str, dict[str, str], list[str]]:
    """(body, definitions, rules) of an instruction built by this module (without its
    worked example: see :func:`split_example`)."""
    body_lines: list[str] = []
    definitions: dict[str, str] = {}
    rules: list[str] = []
    section = "body"
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == DEFINITIONS_HEADER:
            section = "definitions"
            continue
        if stripped == RULES_HEADER:
            section = "rules"
            continue
        if section == "definitions" and (m := _LINE.match(line)):
            definitions[m.group(1).strip()] = m.group(2).strip()
        elif section == "rules" and stripped.startswith("-"):
            rules.append(stripped[1:].strip())
        elif section == "body":
            body_lines.append(line)
        elif stripped:
            body_lines.append(line)
    return "\n".join(body_lines).rstrip(), definitions, rules


def name_line(label: str) -> str:
    """A label's name as its definition line (``reflection.unseen_definition: name``): the
    words of the name, separators as spaces, nothing added."""
    return " ".join(re.split(r"[_\-\s]+", label.strip())).strip() or label


def join_sections(body: str, definitions: dict[str, str], rules: list[str], example: str = "") -> str:
    """The inverse of :func:`split_sections` (with :func:`split_example`'s block last)."""
    parts = [body.rstrip()]
    if definitions:
        parts.append(DEFINITIONS_HEADER + "\n" + "\n".join(f"- {k}: {v}" for k, v in definitions.items()))
    if rules:
        parts.append(RULES_HEADER + "\n" + "\n".join(f"- {r}" for r in rules))
    if example:
        parts.append(example.strip())
    return "\n\n".join(parts)


def split_example(text: str) -> tuple[str, str]:
    """(the text before its demonstrations, the demonstrations block or ""). The block is
    the last section, from its header (a worked example or a classifier's examples) to the
    end, kept verbatim."""
    lines = text.splitlines()
    # from the end, and only a block of this module's making (header, then an ``Input:``
    # line or a label-first line): a user's own "Examples:" earlier in the text stays part of the body
    for i in range(len(lines) - 2, -1, -1):
        header = lines[i].strip()
        ours = header == LABELLED_HEADER or (header.startswith("Worked example") and header.endswith(":"))
        if ours and (lines[i + 1].startswith("Input: ") or (header == LABELLED_HEADER and _LABELLED_LINE.match(lines[i + 1]))):
            return "\n".join(lines[:i]).rstrip(), "\n".join(lines[i:]).strip()
    return text, ""


def join_example(text: str, block: str) -> str:
    return text.rstrip() + "\n\n" + block if block else text


# at the end of a line, after the start or a sentence's end; quotes hold no double quote (with_inline swaps them)
_INLINE = re.compile(r'(?:^|(?<=[.!?]) )Examples?: ("[^"]*"(?:; "[^"]*")*)\s*$')
_INLINE_START = re.compile(r"\bExamples?:")


def split_inline(line: str) -> tuple[str, str]:
    """(a definition line's own words, its inline examples ``Example: "..."`` or "")."""
    m = _INLINE.search(line)
    return (line[: m.start()].rstrip(), line[m.start() :].strip()) if m else (line, "")


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text + "." if text and not text.endswith((".", "!", "?")) else text


def _quote(text: str) -> str:
    """A training input as it is quoted in the text (its own double quotes made single)."""
    return " ".join(text.split()).replace('"', "'")


def with_inline(line: str, quotes: Sequence[str]) -> str:
    """``line`` (its own words; any inline examples it had replaced) closed as a sentence,
    then ``quotes`` as its inline examples (``reflection.demonstrations_layout: inline``)."""
    own = _sentence(split_inline(line)[0])
    tail = ("Example: " if len(quotes) == 1 else "Examples: ") + "; ".join('"' + q.replace('"', "'") + '"' for q in quotes)
    return f"{own} {tail}" if own else tail


def keep_quote(line: str, previous: str) -> str:
    """A label's new definition ``line`` with the inline examples of its ``previous`` line
    (a reply imitating the quote form is cut before its own)."""
    quoted = split_inline(previous)[1]
    return f"{_sentence(_INLINE_START.split(line)[0])} {quoted}".strip() if quoted else line


def _clean_line(reply: str, prefix: str) -> str:
    """The first non-empty line of a reply, with the expected ``prefix:`` and quotes removed."""
    for line in reply.strip().splitlines():
        line = line.strip().strip("`").strip()
        if not line:
            continue
        if line.lower().startswith(prefix.lower() + ":"):
            line = line[len(prefix) + 1 :].strip()
        elif line.lower().startswith("- " + prefix.lower() + ":"):
            line = line[len(prefix) + 3 :].strip()
        return line.strip('"').strip("'").strip()
    return ""


@dataclass
class EditProposer:
    """Proposes one typed edit per call: a label definition (classification) or a rule.

    ``labels``: the label set when the module is a classifier (inferred from the
    ``expected`` values seen when not given). ``use_grammar`` constrains the reply with
    a llama.cpp GBNF grammar (only for servers that accept ``grammar``).
    """

    lm: LM
    config: ReflectionConfig = field(default_factory=ReflectionConfig)
    labels: Sequence[str] | None = None
    perfect_score: float = 1.0
    use_grammar: bool = False
    max_words: int = 25
    max_rules: int = 8
    max_demonstrations: int = 16  # labels shown by a classifier's examples section at most
    examples_per_label: int = 4
    define_all_first: bool = True
    describe_first: bool = True
    rules: RefusalRules = field(default_factory=lambda: RefusalRules(copy_ngram=5))
    # definition_choice "likelihood": text of the module -> gold-label log-probability per
    # validation example (None where a call failed), one task-model call each; set by
    # gepetto.optimize together with ``likelihood_cost`` (calls per scored text)
    likelihood: Callable[[str], list[float | None]] | None = None
    likelihood_cost: int = 0
    # expected answer -> training input texts, per module (a program's modules expect
    # different things); ``_primed`` seeds every module's memory
    _memory: dict[str, list[str]] = field(default_factory=dict)
    _memories: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _primed: dict[str, list[str]] = field(default_factory=dict)
    _described: dict[str, int] = field(default_factory=dict)  # task descriptions asked, per module
    _definition_sets: dict[str, int] = field(default_factory=dict)  # complete definition sets written, per module
    _worked: dict[str, int] = field(default_factory=dict)  # worked examples asked for, per module
    _answer_forms: dict[str, str] = field(default_factory=dict)  # a correct reply's answer line, per module
    _seed_failed: dict[str, set[str]] = field(default_factory=dict)  # training texts the seed got wrong, per module
    _module: str = ""  # the module whose memory is the current one

    @property
    def _inline_layout(self) -> bool:
        return self.config.demonstrations_layout == "inline"

    # ------------------------------------------------------------ bookkeeping
    def prime(self, labelled_inputs: Sequence[tuple[str, str]]) -> None:
        """Learn (input text, expected answer) pairs of the training set up front, so the
        first definitions can be written from several examples per label."""
        for text, expected in labelled_inputs:
            bucket = self._primed.setdefault(expected, [])
            if text not in bucket:
                bucket.append(text)
        self._memories.clear()

    def wants_survey(self) -> bool:
        """Whether the engine should run the seed on the training set before the first
        iteration and hand the records to :meth:`survey`: only with ``definition_examples:
        failures`` and for a classifier whose first edit writes definitions (anything else
        could not use the survey and would only pay for it)."""
        return (
            self.config.definition_examples == "failures" and self.define_all_first
            and self._label_set(self._primed) is not None
        )

    def survey(self, records: Sequence[ModuleRecord]) -> None:
        """The seed's records on the training set: which texts each module got wrong, so a
        definition is written from the cases it must fix first."""
        by_module: dict[str, list[ModuleRecord]] = {}
        for r in records:
            by_module.setdefault(r.module, []).append(r)
            if r.expected is not None and (r.score is None or r.score < self.perfect_score):
                self._seed_failed.setdefault(r.module, set()).add(_input_text(r))
        for module, own in by_module.items():
            self._use_memory(module)
            self._remember(own)

    def _remember(self, records: Sequence[ModuleRecord]) -> None:
        for r in records:
            if r.expected is None:
                continue
            if (
                r.module not in self._answer_forms and r.score is not None and r.score >= self.perfect_score
                and r.output and str(r.expected).strip()
            ):
                form = _answer_form(r.output, str(r.expected))
                if form is not None:
                    self._answer_forms[r.module] = form  # the first one seen stays
            text = _input_text(r)
            bucket = self._memory.setdefault(r.expected, [])
            if text not in bucket:
                bucket.append(text)

    def _label_set(self, memory: dict[str, list[str]] | None = None) -> list[str] | None:
        if self.labels is not None:
            return list(self.labels)
        memory = self._memory if memory is None else memory
        seen = list(memory)
        # A classifier's expected answers come from a small set and repeat; open answers
        # (names, numbers, sentences) mostly do not, and get rules instead of definitions.
        total = sum(len(texts) for texts in memory.values())
        if 2 <= len(seen) <= 40 and all(len(label.split()) <= 4 for label in seen) and total >= 2 * len(seen):
            return None if _meaningless_labels(seen) else seen
        return None

    # --------------------------------------------------------------- propose
    def propose(
        self,
        candidate: Candidate,
        module: str,
        records: Sequence[ModuleRecord],
        *,
        rng: random.Random,
        iteration: int,
    ) -> Proposal:
        self._use_memory(module)
        self._remember(records)
        current = candidate[module]
        failures = [r for r in records if r.score is None or r.score < self.perfect_score]
        if not failures:
            return Proposal(module, None, (Attempt("no-failure", ""),))
        labels = self._label_set()
        rest, example = split_example(current)
        body, definitions, rules = split_sections(rest)
        # lines with words of their own (an inline example alone, on a label never defined, is not a definition)
        inline_layout = self._inline_layout
        defined = {label: line for label, line in definitions.items() if split_inline(line)[0]} if inline_layout else definitions
        written = self._definition_sets.get(module, 0)
        sets = self.config.definition_sets
        if (
            labels and self.define_all_first and not defined and not written and sets > 1
            and self.config.definition_choice == "likelihood" and self.likelihood is not None
        ):
            # all sets now, the most likely one proposed: they do not compete as children
            self._definition_sets[module] = sets
            return self._define_most_likely(module, current, body, rules, labels, records, iteration, example)
        earlier: tuple[Attempt, ...] = ()  # a refused demonstration's attempts, reported with this iteration's rule
        first_set = labels and self.define_all_first and not defined and not written
        inline = inline_layout and any(split_inline(line)[1] for line in definitions.values())  # quotes already in the lines
        if (
            labels and not first_set and self.config.demonstrations and not example and not inline
            and self._worked.get(module, 0) < _WORKED_TRIES
        ):
            # after the first definition set was proposed (accepted or not): the examples section
            proposal = self._label_examples(module, current, labels, records)
            if proposal is not None and proposal.text is not None:
                return proposal
            if proposal is not None:
                earlier = proposal.attempts
        if labels and self.define_all_first and (
            (not defined and written < sets + self.config.definition_set_retries) or 0 < written < sets
        ):
            # the first set when the text has none (a rejected one is asked for again a bounded
            # number of times); with ``definition_sets`` > 1, further fresh sets replace the
            # parent's (a user's own definitions are never replaced wholesale)
            self._definition_sets[module] = written + 1
            return self._define_all(module, current, body, definitions, rules, labels, records, iteration, example=example)
        if (
            not labels and self.describe_first and not _TASK_LINE.match(body) and any(r.expected for r in records)
            and self._described.get(module, 0) < 2
        ):
            # twice at most: a description the gate rejected is not asked for forever
            self._described[module] = self._described.get(module, 0) + 1
            return self._describe(module, current, body, definitions, rules, records, iteration, example)
        if (
            not labels and self.config.demonstrations and not example and any(r.expected for r in records)
            and self._worked.get(module, 0) < _WORKED_TRIES
        ):
            proposal = self._work_example(module, current, records, iteration)
            if proposal is not None and proposal.text is not None:
                return proposal
            if proposal is not None:
                earlier = proposal.attempts
        attempts: list[Attempt] = list(earlier)
        for attempt in range(self.config.max_resamples + 1):
            failure = failures[(iteration + attempt) % len(failures)]
            plan = self._plan(failure, labels, rng)
            reply, line, reason = self._ask(self._messages(plan, current, failure, labels), iteration * 100 + attempt)
            new_text = None
            if reason is None:
                if plan[0] == "define":
                    new_defs = dict(definitions)
                    new_defs[plan[1]] = keep_quote(line, definitions.get(plan[1], "")) if inline_layout else line
                    new_text = join_sections(body, new_defs, rules, example)
                elif any(normalize(line) == normalize(rule) for rule in rules):
                    reason = "duplicate-rule"
                else:
                    new_rules = (rules + [line])[-self.max_rules :]
                    new_text = join_sections(body, definitions, new_rules, example)
            if new_text is not None:
                reason = self.rules.check(new_text, parent_text=current, training_inputs=self._known_inputs(records))
            attempts.append(Attempt(reason, reply, new_text))
            if reason is None:
                return Proposal(module, new_text, tuple(attempts))
        return Proposal(module, None, tuple(attempts))

    def _define_most_likely(
        self, module: str, current: str, body: str, rules: list[str], labels: list[str],
        records: Sequence[ModuleRecord], iteration: int, example: str = "",
    ) -> Proposal:
        """``definition_sets`` fresh sets, each scored by the task model's log-probability of
        the validation examples' gold labels under it; the set with the best mean (over the
        examples every set could be scored on) is proposed. Why: which of several sampled
        sets is best varies by several test points, and 0/1 accuracy on 30 validation
        examples ranks them only loosely; the likelihood is a graded signal from the same
        examples (measured in docs/measurements.md: "Choosing a definition set")."""
        assert self.likelihood is not None
        attempts: list[Attempt] = []
        texts: list[str] = []
        rows: list[list[float | None]] = []
        spent = 0
        for number in range(self.config.definition_sets):
            sample = self._define_all(module, current, body, {}, rules, labels, records, iteration, set_number=number, example=example)
            attempts.extend(sample.attempts)
            if sample.text is None or sample.text in texts:
                continue
            try:
                values = self.likelihood(sample.text)
            except LikelihoodUnsupported as exc:
                # the endpoint cannot score answers: this set is proposed, and later sets
                # compete on validation one at a time as with ``definition_choice: validation``
                _log.warning("definition_choice 'likelihood' is off for this run: %s", exc)
                self.likelihood = None
                self._definition_sets[module] = 1
                attempts.append(Attempt("likelihood-unsupported", str(exc), None))
                return Proposal(module, sample.text, tuple(attempts), rollouts=spent)
            spent += len(values)
            texts.append(sample.text)
            rows.append(values)
        if not texts:
            return Proposal(module, None, tuple(attempts) or (Attempt("no-examples", ""),), rollouts=spent)
        means = paired_means(rows)
        best = max(range(len(texts)), key=lambda i: (not math.isnan(means[i]), means[i] if not math.isnan(means[i]) else 0.0, -i))
        for i, value in enumerate(means):
            if i != best:
                attempts.append(Attempt("less-likely", f"mean gold-label log-probability {value:.3f} vs {means[best]:.3f}", None))
        return Proposal(module, texts[best], tuple(attempts), rollouts=spent)

    def check_rollouts(self) -> int:
        """Task-model calls the next proposal may spend choosing among definition sets
        (the engine keeps them affordable): all sets' scoring until the choice is made."""
        if self.likelihood is None or self.config.definition_choice != "likelihood" or self.config.definition_sets < 2:
            return 0
        return 0 if self._definition_sets else self.config.definition_sets * self.likelihood_cost

    def _define_all(
        self, module: str, current: str, body: str, previous: dict[str, str], rules: list[str], labels: list[str],
        records: Sequence[ModuleRecord], iteration: int, set_number: int = 0, example: str = "",
    ) -> Proposal:
        """One definition per label with examples, in a single edit: the structure a
        careful person would write first (a label list with what each label means).
        ``previous``: the parent's definitions, kept for a label whose new line is refused
        (a later set must not lose a label the parent defined)."""
        definitions: dict[str, str] = {}
        attempts: list[Attempt] = []
        known = self._known_texts()
        neighbours = nearest_labels({lab: self._memory.get(lab, []) for lab in labels}) if self.config.definition_contrast == "nearest" else {}
        for number, label in enumerate(labels):
            plan: tuple[str, str, str | None] | None = None
            if self._memory.get(label):
                neighbour = neighbours.get(label)
                plan = ("contrast" if neighbour else "define", label, neighbour)
            elif self.config.define_unseen_labels and self.labels is not None:
                # a declared label no training example shows (without a declared list, such labels are unknown)
                plan = ("name", label, None)
            line = None
            if plan is not None and plan[0] == "name" and self.config.unseen_definition == "name":
                line = name_line(label)
            elif plan is not None:
                request = self._messages(plan, current, records[0], labels)
                line = self._define_one(request, iteration, number, current, known, attempts, set_number)
            if line is not None:
                definitions[label] = line
            elif label in previous:
                definitions[label] = previous[label]
        if self.config.definition_distinct:
            self._separate_blurred(definitions, current, records[0], labels, iteration, known, attempts, set_number)
        if self._inline_layout:  # a label's inline examples outlive its definition
            for label, line in definitions.items():
                quoted = split_inline(previous.get(label, ""))[1]
                if quoted and not split_inline(line)[1]:
                    definitions[label] = f"{_sentence(line)} {quoted}"
        if not definitions or definitions == previous:
            return Proposal(module, None, tuple(attempts) or (Attempt("no-examples", ""),))
        new_text = join_sections(body, definitions, rules, example)
        reason = self.rules.check(new_text, parent_text=current, training_inputs=known)
        if reason is not None:
            attempts.append(Attempt(reason, new_text))
            return Proposal(module, None, tuple(attempts))
        return Proposal(module, new_text, tuple(attempts))

    def separate_blurred(self, module: str, text: str, failure: ModuleRecord, iteration: int) -> tuple[str, list[Attempt]]:
        """``definition_distinct``'s step alone on ``text``, an instruction with a definition
        section (after a proposal for ``module``, whose memory it uses): the new text and the
        asks it made. For measurements that score one set with and without the step."""
        body, definitions, rules = split_sections(text)
        self._use_memory(module)
        attempts: list[Attempt] = []
        known = self._known_texts()
        labels = list(self.labels) if self.labels is not None else list(definitions)
        self._separate_blurred(definitions, text, failure, labels, iteration, known, attempts, 0)
        return join_sections(body, definitions, rules), attempts

    def _separate_blurred(
        self, definitions: dict[str, str], current: str, failure: ModuleRecord, labels: list[str], iteration: int,
        known: list[str], attempts: list[Attempt], set_number: int,
    ) -> None:
        """``reflection.definition_distinct``: where two labels' new lines say the same thing
        (``gepetto.proposers.distinct``), write one of them again beside the other's texts and
        line, asked to say what sets it apart; the new line replaces the old only when it
        shares less with the other's line. Each label is written again at most once per set,
        one reflection call each (re-asked like any line when refused), no rollouts.

        Why: a small model writes each line from its own label's texts, so two labels about
        the same topic get the same line ("Waiting for delivery of a new card." /
        "Waiting for delivery of card"), and the task model then has nothing to tell them
        apart by."""
        ignore = shared_name_words(labels)
        rewritten: set[str] = set()
        for pair in blurred_pairs(definitions, labels):
            label = label_to_rewrite(pair, self._memory)
            partner = pair[0] if label == pair[1] else pair[1]
            if label in rewritten or partner in rewritten:
                continue  # the partner's line changed already; the pair may no longer be blurred
            rewritten.add(label)
            kind = "distinct" if self._memory.get(label) else "distinct-name"
            request = self._messages((kind, label, partner), current, failure, labels, partner_line=definitions[partner])
            number = labels.index(label)
            line = self._define_one(request, iteration, _DISTINCT_OFFSET + number, current, known, attempts, set_number)
            if line is None:
                continue
            partner_words = line_words(definitions[partner], ignore)
            before = overlap_coefficient(line_words(definitions[label], ignore), partner_words)
            if overlap_coefficient(line_words(line, ignore), partner_words) < before:
                definitions[label] = line
            else:
                attempts.append(Attempt("still-blurred", line, None))

    def _define_one(
        self, request: tuple[list[dict[str, str]], str, str | None], iteration: int, number: int,
        current: str, known: list[str], attempts: list[Attempt], set_number: int = 0,
    ) -> str | None:
        """One label's line of a definition set (``number``: the label's place), or None.

        ``reflection.definition_samples`` lines are sampled and the consensus line kept
        (``gepetto.proposers.consensus``); the others are recorded as ``outvoted``. A
        refused sample (one that pastes a training text, a fragment, a cut-off reply) is
        re-asked for that label alone: refusing the whole set for it would throw away the
        other labels' good lines. Sample indices of sets live in their own range, one block
        per iteration, so no two asks share a cached reply (``set_number``: which of the
        sets of a likelihood choice); the first sample keeps the indices it had before
        consensus existed. Every ask is recorded in ``attempts``."""
        kept: list[tuple[str, int]] = []  # (line, its place in attempts)
        for sample in range(self.config.definition_samples):
            for resample in range(self.config.max_resamples + 1):
                sample_index = (
                    _SET_SAMPLES + set_number * _SET_STRIDE + iteration * 100_000 + sample * _LINE_SAMPLE_STRIDE
                    + resample * 1000 + number
                )
                reply, line, reason = self._ask(request, sample_index)
                if reason is None:
                    reason = self.rules.line_reason(line, current, known)
                attempts.append(Attempt(reason, reply, line if reason is None else None))
                if reason is None:
                    kept.append((line, len(attempts) - 1))
                    break
                if reason == "lm-error":
                    # the LM layer has already retried; asking again only repeats the failure
                    return self._consensus(kept, attempts)
        return self._consensus(kept, attempts)

    @staticmethod
    def _consensus(kept: list[tuple[str, int]], attempts: list[Attempt]) -> str | None:
        if not kept:
            return None
        chosen = consensus_index([line for line, _ in kept])
        for i, (_, place) in enumerate(kept):
            if i != chosen:
                attempts[place] = Attempt("outvoted", attempts[place].reply, None)
        return kept[chosen][0]

    def _describe(
        self, module: str, current: str, body: str, definitions: dict[str, str], rules: list[str],
        records: Sequence[ModuleRecord], iteration: int, example: str = "",
    ) -> Proposal:
        """First edit of a module without a label set: one line, written from solved
        examples, that says what the task is and what the answer looks like, put at the
        top of the instruction. A generic seed ("Answer the question.") leaves the small
        task model guessing both; a full rewrite by a small model states them but loses
        the rest, so only that line is asked for."""
        shown = self._description_examples(records)
        # The current instruction is not shown: a small model asked to describe the task
        # next to a generic instruction copies the instruction back.
        lines = ["Here are several inputs of one task, each with its correct answer."]
        for text, expected in shown:
            lines += [f"Input: {_short(text, 400)}", f"Correct answer: {_short(expected, 120)}", ""]
        lines += [
            f"In one sentence of at most {self.max_words} words, say in general terms what this task asks to decide "
            "or produce, and the form of a correct answer. Do not list or repeat the answers above and do not "
            "mention these specific inputs.",
            "Reply in this form:",
            "Task: <description>",
        ]
        grammar = 'root ::= "Task: " [^\\n]{10,200}'
        reply, line, reason = self._ask((_chat("\n".join(lines)), "Task", grammar), iteration * 100 + self._described.get(module, 0))
        if reason is None and normalize(line) and normalize(line) in normalize(current):
            reason = "unchanged"  # the instruction itself, echoed back
        if reason is not None:
            return Proposal(module, None, (Attempt(reason, reply, None),))
        new_text = join_sections(f"Task: {line}\n{body}", definitions, rules, example)
        reason = self.rules.check(new_text, parent_text=current, training_inputs=self._known_inputs(records))
        accepted = new_text if reason is None else None
        return Proposal(module, accepted, (Attempt(reason, reply, accepted),))

    def _label_examples(
        self, module: str, current: str, labels: list[str], records: Sequence[ModuleRecord],
    ) -> Proposal | None:
        """Training inputs with their labels, ``demonstrations_per_label`` per label in
        rounds over the label list, appended to a classifier's instruction; None while no
        correct reply has shown the form of an answer.

        Why: on fixed instructions with the 1.5B task model (docs/measurements.md, "Demonstrations"),
        one training input per label lifted the seed on three nine-intent BANKING77 groups
        by +2 to +21 points on test; two or three per label added about one point more on
        average (not in runs, where they only made prompts longer), and the layout (label
        order or not, ``Answer:`` lines or not) had no consistent effect.
        A second ask (the gate rejected the first) takes each label's next training
        inputs, so the examples themselves are searched over. Labels the parent got wrong
        on this minibatch come first when there are more labels than ``max_demonstrations``;
        over the length cap, rounds go first, then labels the parent did not just miss."""
        form = self._answer_forms.get(module)
        if form is None:
            return None
        tries = self._worked.get(module, 0)
        self._worked[module] = tries + 1
        missed = [r.expected for r in records if r.expected and (r.score is None or r.score < self.perfect_score)]
        shown = [lab for lab in labels if self._memory.get(lab)]
        shown.sort(key=lambda lab: (lab not in missed, labels.index(lab)))
        shown = sorted(shown[: self.max_demonstrations], key=labels.index)
        if not shown:
            return None
        rounds = self.config.demonstrations_per_label
        start = tries * rounds  # where this ask starts in each label's inputs, whatever the length cap leaves
        body, definitions, rules = split_sections(current)
        inline = self._inline_layout  # without a definitions list the quotes start one
        while True:
            pairs = [  # (label, input) in rounds over the labels; consecutive indices mod len: distinct inputs per label
                (label, _short(self._memory[label][(start + r) % len(self._memory[label])], 300))
                for r in range(rounds) for label in shown if r < len(self._memory[label])
            ]
            if inline:
                picked: dict[str, list[str]] = {}
                for label, text in pairs:
                    picked.setdefault(label, []).append(text)
                new_defs = dict(definitions)
                for label, quotes in picked.items():
                    new_defs[label] = with_inline(definitions.get(label, ""), quotes)
                new_text = join_sections(body, new_defs, rules)
                block = "\n".join(text for _, text in pairs)  # what the copy guard allows
            elif self.config.demonstrations_layout == "labelled":
                unshown = [lab for lab in labels if not self._memory.get(lab)]  # no training input at all
                block = "\n".join([LABELLED_HEADER] + [f'{label}: "{_quote(text)}"' for label, text in pairs]
                                   + [f"{label}: {NO_EXAMPLE}" for label in unshown])
                new_text = join_example(current, block)
            else:
                block = "\n".join([LABELLED_HEADER] + [
                    part for label, text in pairs for part in (f"Input: {text}", form.replace(_ANSWER_SLOT, label))])
                new_text = join_example(current, block)
            if len(new_text) <= self.rules.max_chars or (len(shown) == 1 and rounds == 1):
                break
            if rounds > 1:
                rounds -= 1  # over the length cap: fewer per label, then fewer labels, rather than no section
            else:  # the last label the parent did not just miss goes first
                spare = [lab for lab in shown if lab not in missed]
                drop = spare[-1] if spare else shown[-1]
                shown = [lab for lab in shown if lab != drop]
        count = len(pairs)
        reason = self.rules.check(new_text, parent_text=current, training_inputs=self._known_inputs(records), allowed=block)
        accepted = new_text if reason is None else None
        summary = f"{count} training examples, {len(shown)} labels" + (", in their definition lines" if inline else "")
        return Proposal(module, accepted, (Attempt(reason, summary, accepted),))

    def _work_example(
        self, module: str, current: str, records: Sequence[ModuleRecord], iteration: int,
    ) -> Proposal | None:
        """A worked example appended to the instruction, or None while no correct reply
        has shown the form of the answer line.

        Why: on counting and arithmetic tasks a small task model told *how* (a rule) gains
        little, and shown one solved case step by step it copies the method (measured in
        docs/measurements.md: one worked example lifted object counting from 0.35 to 0.58 on test).
        The reflection model writes only the steps, with the gold answer in view; code
        checks that the last step reaches the gold answer and closes the example with the
        answer line in the exact form the metric accepted in the task's own correct
        replies, so the example never teaches a wrong answer or a wrong format. The input
        is a minibatch input the parent got wrong (the shortest first: a short example
        costs the least prompt on every later call)."""
        form = self._answer_forms.get(module)
        if form is None:
            return None
        tries = self._worked.get(module, 0)
        self._worked[module] = tries + 1
        usable = [r for r in records if r.expected]
        wrong = [r for r in usable if r.score is None or r.score < self.perfect_score]
        chosen = sorted(wrong or usable, key=lambda r: len(_input_text(r)))
        known = self._known_inputs(records)
        attempts: list[Attempt] = []
        for attempt in range(self.config.max_resamples + 1):
            record = chosen[(tries + attempt) % len(chosen)]  # a re-ask (the gate said no) starts on another input
            question, gold = _input_text(record), str(record.expected)
            lines = [
                "Here is an input of a task and its correct answer.",
                f"Input: {question}",
                f"Correct answer: {gold}",
                "Solve this input step by step, doing the actual work on it: each step takes one concrete part of "
                "the input (one item, one fact, one number) and says what it gives; the last step puts them together "
                f"and states the answer {gold}. Show the work; do not describe a general method (no 'identify the "
                "items', 'count each one', 'add them up'). Reply with a numbered list of at most 12 short steps.",
            ]
            grammar = 'root ::= "1. " step ("\\n" ([2-9] | "1" [0-2]) ". " step){1,11}\nstep ::= [^\\n]{3,240}'
            params = {"grammar": grammar} if self.use_grammar else {}
            sample_index = _WORKED_SAMPLES + iteration * 100 + attempt
            new_text = None
            try:
                completion = self.lm.complete(
                    _chat("\n".join(lines), system=SOLVE_SYSTEM_PROMPT), temperature=self.config.temperature,
                    max_tokens=400, sample_index=sample_index, **params,
                )
                reply = completion.text
                steps, reason = _solution_steps(reply, gold, completion.truncated)
            except LMError as exc:
                reply, steps, reason = str(exc), [], "lm-error"
            if reason is None:
                block = "\n".join([EXAMPLE_HEADER, f"Input: {question}", *steps, form.replace(_ANSWER_SLOT, gold)])
                new_text = join_example(current, block)
                reason = self.rules.check(new_text, parent_text=current, training_inputs=known, allowed=block)
            attempts.append(Attempt(reason, reply, new_text if reason is None else None))
            if reason is None:
                return Proposal(module, new_text, tuple(attempts))
            if reason == "lm-error":
                break
        return Proposal(module, None, tuple(attempts))

    def _use_memory(self, module: str) -> None:
        """Make ``module``'s memory of labelled inputs the current one (primed on first use)."""
        if module not in self._memories:
            self._memories[module] = {k: list(v) for k, v in self._primed.items()}
        self._memory = self._memories[module]
        self._module = module

    def _known_texts(self) -> list[str]:
        """Every input text in the current module's memory, label by label."""
        return [t for texts in self._memory.values() for t in texts]

    def _known_inputs(self, records: Sequence[ModuleRecord]) -> list[str]:
        """Training inputs a proposal must not copy: the minibatch's and the memory's."""
        return [_input_text(r) for r in records] + self._known_texts()

    def _description_examples(self, records: Sequence[ModuleRecord]) -> list[tuple[str, str]]:
        """Up to ``2 * examples_per_label`` solved examples, the minibatch's first, then
        from memory, spread over the different answers so the description sees the range."""
        seen: list[tuple[str, str]] = [(_input_text(r), str(r.expected)) for r in records if r.expected]
        pools = [[(t, answer) for t in texts] for answer, texts in self._memory.items()]
        k = 0
        while len(seen) < 2 * self.examples_per_label and any(k < len(pool) for pool in pools):
            seen += [pool[k] for pool in pools if k < len(pool) and pool[k] not in seen]
            k += 1
        return seen[: 2 * self.examples_per_label]

    def _ask(self, request: tuple[list[dict[str, str]], str, str | None], sample_index: int) -> tuple[str, str, str | None]:
        """One LM call for one line: (raw reply, cleaned line, refusal reason or None)."""
        messages, prefix, grammar = request
        params = {"grammar": grammar} if (grammar and self.use_grammar) else {}
        try:
            completion = self.lm.complete(
                messages, temperature=self.config.temperature, max_tokens=96, sample_index=sample_index, **params,
            )
        except LMError as exc:
            return str(exc), "", "lm-error"
        line = _clean_line(completion.text, prefix)
        return completion.text, line, self._check_line(line, completion.truncated)

    def _check_line(self, line: str, truncated: bool) -> str | None:
        if truncated:
            return "truncated"
        if not line:
            return "empty"
        words = line.split()
        if len(words) < 3:
            return "fragment"
        if len(words) > self.max_words * 2:
            return "too-long"
        return None

    def _examples_of(self, label: str) -> list[str]:
        """The label's texts a definition is written from (``reflection.definition_examples``)."""
        texts = self._memory.get(label, [])
        if self.config.definition_examples == "spread":
            return spread_texts(texts, self.examples_per_label, self._known_texts())
        if self.config.definition_examples == "failures":
            failed = self._seed_failed.get(self._module, set())
            texts = [t for t in texts if t in failed] + [t for t in texts if t not in failed]
        return texts[: self.examples_per_label]

    def _plan(self, failure: ModuleRecord, labels: list[str] | None, rng: random.Random) -> tuple[str, str, str | None]:
        """("define", label, confused_with) for a classification error, else ("rule", "", None)."""
        if labels and failure.expected in labels:
            answered = LabelMetric(labels).parse(failure.output or "")
            confused = answered[0] if len(answered) == 1 and answered[0] != failure.expected else None
            return ("define", failure.expected, confused)
        return ("rule", "", None)

    def _messages(
        self, plan: tuple[str, str, str | None], current: str, failure: ModuleRecord, labels: list[str] | None,
        partner_line: str = "",
    ) -> tuple[list[dict[str, str]], str, str | None]:
        kind, label, confused = plan
        if kind in ("distinct", "distinct-name"):
            assert labels is not None and confused is not None
            lines = [f"A model sorts texts into these labels: {', '.join(labels)}."]
            if kind == "distinct":
                lines.append(f'Here are texts whose label is "{label}":')
                lines += [f"- {_short(t)}" for t in self._examples_of(label)]
            else:
                lines.append(f'No example of "{label}" is at hand.')
            others = self._memory.get(confused, [])[:3]
            if others:
                lines.append(f'Texts whose label is "{confused}":')
                lines += [f"- {_short(t)}" for t in others]
            lines += [
                f'"{confused}" is defined as: {partner_line}',
                f'Write a definition of "{label}" in at most {self.max_words} words'
                + (" from what its name says" if kind == "distinct-name" else "")
                + f' that says what sets it apart from "{confused}"; do not repeat that definition and do not quote the texts.',
                "Reply in this form:",
                f"{label}: <definition>",
            ]
            grammar = _line_grammar(label)
            return _chat("\n".join(lines)), label, grammar
        if kind == "name":
            assert labels is not None
            lines = [
                f"A model sorts texts into these labels: {', '.join(labels)}.",
                f'No example of "{label}" is at hand.',
                f'From what its name says, write a definition of "{label}" in at most {self.max_words} words.',
                "Describe in general what such texts ask about.",
                "Reply in this form:",
                f"{label}: <definition>",
            ]
            grammar = _line_grammar(label)
            return _chat("\n".join(lines)), label, grammar
        if kind in ("define", "contrast"):
            assert labels is not None
            examples = self._examples_of(label)
            lines = [
                f"A model sorts texts into these labels: {', '.join(labels)}.",
                f'Here are texts whose label is "{label}":',
                *[f"- {_short(t)}" for t in examples],
            ]
            # The writer's situation, not the texts' topic: "Waiting for delivery of requested card" instead of
            # "Texts seeking information about the delivery of a new card" (docs/measurements.md, "Definition wording")
            situation = not confused and self.config.definition_wording == "situation"
            if confused:
                others = self._memory.get(confused, [])[:3]
                if kind == "contrast":
                    lines.append(f'These are easily mistaken for "{confused}".')
                else:
                    lines.append(f'The model wrongly answered "{confused}" for one of them.')
                if others:
                    lines.append(f'Texts whose label really is "{confused}":')
                    lines += [f"- {_short(t)}" for t in others]
                lines.append(
                    f'Write a definition of "{label}" in at most {self.max_words} words that tells it apart from "{confused}".'
                )
            elif situation:
                lines.append(
                    f"In at most {self.max_words} words, say what situation the writer of such a text is in, or what "
                    "they want, so that every text with this label fits; do not quote the texts."
                )
            else:
                lines.append(f'Write a definition of "{label}" in at most {self.max_words} words.')
            if not situation:
                lines.append("Describe in general what such texts ask about; do not quote the texts.")
            lines += ["Reply in this form:", f"{label}: <{'situation' if situation else 'definition'}>"]
            grammar = _line_grammar(label)
            return _chat("\n".join(lines)), label, grammar
        lines = [
            "A model follows this instruction:",
            current.strip(),
            "",
            "On this input it answered wrongly.",
            f"Input: {_short(_input_text(failure), 600)}",
            f"Its answer: {_short(failure.output or '(empty)', 300)}",
        ]
        if failure.expected:
            lines.append(f"Expected: {_short(failure.expected, 300)}")
        if failure.feedback:
            lines.append(f"Feedback: {_short(failure.feedback, 400)}")
        lines += [
            f"Write one general rule, one sentence of at most {self.max_words} words, that would help the model "
            "answer inputs like this correctly. Do not mention this specific input.",
            "Reply in this form:",
            "Rule: <rule>",
        ]
        grammar = 'root ::= "Rule: " [^\\n]{10,200}'
        return _chat("\n".join(lines)), "Rule", grammar


# sample indices of definition sets, above any other ask's:
# + set number (of a likelihood choice) * _SET_STRIDE + iteration * 100_000 + resample * 1000 + label number
_SET_SAMPLES = 1 << 40
_SET_STRIDE = 1 << 36
_DISTINCT_OFFSET = 500  # + the label's place: line numbers of definition_distinct's second asks (labels < 500)
_LINE_SAMPLE_STRIDE = 10_000  # + sample * this: the samples of one label's line (definition_samples <= 9)
_WORKED_SAMPLES = 1 << 34  # sample indices of worked-example asks: + iteration * 100 + attempt
_WORKED_TRIES = 3  # worked examples asked for per module at most (each refused by the gate costs a minibatch)
_ANSWER_SLOT = "\x00answer\x00"
_TASK_LINE = re.compile(r"^\s*Task:", re.IGNORECASE)
_OPTION_LETTER = re.compile(r"^\(?[A-Za-z]\)?$")
_CLOSED_WORDS = {"yes", "no", "true", "false", "valid", "invalid", "plausible", "implausible"}


def _meaningless_labels(labels: Sequence[str]) -> bool:
    """Answers that repeat but carry no meaning of their own to define: option letters of
    a multiple-choice question ("(B)"), yes/no and true/false verdicts, numbers. A
    definition of "(B)" or of "yes" says nothing; such tasks get rules instead."""
    def plain(label: str) -> bool:
        text = label.strip().lower().rstrip(".")
        return bool(_OPTION_LETTER.match(text)) or text in _CLOSED_WORDS or text.replace(".", "", 1).lstrip("-").isdigit()

    return all(plain(label) for label in labels)


def _line_grammar(label: str) -> str:
    """GBNF for one definition line: ``<label>: `` and 10 to 200 characters on one line."""
    return f"root ::= {gbnf_literal(label + ': ')} [^\\n]{{10,200}}"


def _chat(user: str, system: str = EDIT_SYSTEM_PROMPT) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _answer_form(output: str, expected: str) -> str | None:
    """The answer line of a correct reply with the answer replaced by a slot ("Answer: 7"
    -> "Answer: <slot>"), or None. Only a line that is little more than the answer
    counts: the rest of it (at most 30 characters, no digits) is the answer's frame, so a
    reasoning line that happens to end in the answer ("1 + 1 = 2") is never taken for it."""
    answer = expected.strip()
    if not answer:
        return None
    pattern = re.compile(rf"(?<![\w.,-]){re.escape(answer)}(?!\w|[.,]\d)", re.IGNORECASE)
    for line in reversed(output.strip().splitlines()):
        if not pattern.search(line):
            continue
        frame = pattern.sub(_ANSWER_SLOT, line.strip())
        rest = frame.replace(_ANSWER_SLOT, "")
        if len(rest) <= 30 and not re.search(r"\d", rest):
            return frame
        return None  # the last line naming the answer is not an answer line
    return None


_STEP = re.compile(r"^\s*(\d{1,2})\s*[.)]\s+(.+?)\s*$")
_NUMBER = re.compile(rf"-?(?:{NUMBER_TEXT})")


def _solution_steps(reply: str, gold: str, truncated: bool) -> tuple[list[str], str | None]:
    """The numbered steps of a solution reply, renumbered from 1, and the reason to
    refuse them: cut off, fewer than two steps, a last step that does not reach the
    gold answer (for a numeric answer: the last number of the last step must equal it),
    a step that is only a heading ("2. Count each item:" with nothing after it), or an
    equation that is wrong ("1 + 1 + 1 = 4"). Why the last two: with the gold answer in
    view a small model states it whatever its steps say, and the task model copies the
    steps' habits, not only the answer line (docs/measurements.md, "Demonstrations")."""
    if truncated:
        return [], "truncated"
    steps = [m.group(2) for line in reply.splitlines() if (m := _STEP.match(line))]
    if len(steps) < 2:
        return [], "fragment"
    if len(steps) > 12:
        return [], "too-long"
    last = steps[-1]
    gold_text = gold.strip()
    if _NUMBER.fullmatch(gold_text):
        numbers = _NUMBER.findall(last)
        if not numbers or _as_number(numbers[-1]) != _as_number(gold_text):
            return [], "solution-misses-answer"
    elif not re.search(rf"(?<![\w-]){re.escape(gold_text)}(?![\w-])", last, re.IGNORECASE):
        return [], "solution-misses-answer"
    if any(_HEADING_ONLY.search(step) for step in steps):
        return [], "solution-empty-step"
    if any(wrong_equation(step) is not None for step in steps):
        return [], "solution-wrong-arithmetic"
    return [f"{i}. {step}" for i, step in enumerate(steps, start=1)], None


_HEADING_ONLY = re.compile(r":\s*$")  # a step that ends on its colon announces work it does not show


def _as_number(text: str) -> float:
    return float(text.replace(",", ""))


def _input_text(record: ModuleRecord) -> str:
    values = [str(v) for v in record.inputs.values()]
    return values[0] if len(values) == 1 else " | ".join(values)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

