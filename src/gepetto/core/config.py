"""The one typed configuration object of an optimization run.

Pydantic validates every field on construction and rejects unknown keys, so a typo in a
config file or a keyword fails at once with the field's name and the allowed values,
before any model is called.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    """Rejects unknown keys with the closest valid name, before pydantic's generic error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            for key in data:
                if key not in known:
                    close = difflib.get_close_matches(str(key), sorted(known), n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"valid settings: {', '.join(sorted(known))}"
                    raise ValueError(f"unknown setting {key!r}; {hint}")
        return data


class ReflectionConfig(_Strict):
    """How the reflection LM is asked for a new text, and which replies are refused."""

    strategy: Literal["auto", "rewrite", "edits"] = Field(
        "auto",
        description="rewrite: the paper's full rewrite of the text; edits: one typed edit (a label "
        "definition or a rule) written by the LM and applied by code, for small reflection models; "
        "auto: edits when the reflection model's name gives a size of at most 3B parameters, else rewrite",
    )
    use_grammar: bool = Field(False, description="edits: constrain replies with a GBNF grammar (llama.cpp servers)")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=16)
    refuse: bool = Field(True, description="refuse bad replies before they cost rollouts (False: the paper's loop)")
    max_resamples: int = Field(2, ge=0, description="extra samples after a refused reply")
    max_text_chars: int = Field(6000, ge=50, description="longest instruction accepted")
    max_records: int = Field(6, ge=1, description="examples shown to the reflection LM")
    max_field_chars: int = Field(1500, ge=50, description="per input/output text shown")
    copy_ngram: int = Field(
        8, ge=0, description="refuse texts copying this many consecutive words of a training input (0: off)"
    )
    definition_sets: int = Field(
        1, ge=1,
        description="edits, classifiers: complete label-definition sets written (fresh samples) before single-label "
        "edits; each competes on validation, since one set's test score varies by several points from sample to sample",
    )
    definition_set_retries: int = Field(
        2, ge=0,
        description="edits, classifiers: when a complete definition set did not stay (the gate rejected it, or it was "
        "refused) and the parent still has no "
        "definitions (typically the seed), how many more complete sets later iterations may write for it; after "
        "that they define one failing label at a time. Why a cap: a complete set costs one reflection call per "
        "label, and without it every iteration on such a parent asked for a new one (runs of 179 and 408 "
        "reflection calls against about 40 when the first set is accepted)",
    )
    definition_contrast: Literal["none", "nearest"] = Field(
        "none",
        description="edits, classifiers: 'nearest' writes each label's definition of a complete set beside the "
        "training texts of its nearest other label (by shared words), asking for the boundary between them",
    )
    definition_wording: Literal["situation", "describe"] = Field(
        "situation",
        description="edits, classifiers: how a label's definition is asked for (labels with training examples, no "
        "contrast). 'situation': what situation the writer of such a text is in or what they want, so that every "
        "text of the label fits; 'describe': what such texts ask about (the wording before). Measured with the 1.5B "
        "on banking-9 (docs/measurements.md, 'Definition wording'): four sampled sets each, mean test 0.760 vs 0.735, higher for "
        "three of four samples; in three-seed runs at budget 300, test 0.750 (+6.0 over the seed) vs 0.743 (+4.3)",
    )
    definition_examples: Literal["first", "spread", "failures"] = Field(
        "first",
        description="edits, classifiers: which of a label's known training texts are shown when its definition is "
        "written. 'first': the first ones in training order; 'spread': the most typical one, then each time the one "
        "least like those chosen (tf-idf words, in code; gepetto.proposers.neighbours.spread_texts), so the line "
        "is written from the label's range rather than one corner of it. Measured with the 1.5B on banking-9 (docs/measurements.md, "
        "'Spread examples and distinct lines'): three-seed runs at budget 300, test 0.730 vs the default's 0.733. "
        "'failures': before the first iteration the seed is run on the training set (up to 50 examples, a seeded "
        "sample of a larger set; charged to the budget as 'survey' rollouts, and with reuse_evaluations served from "
        "memory whenever the seed is a parent later), and a label's texts the seed got wrong are shown first: the "
        "definition is written from the cases it has to fix, not from the ones the seed already gets",
    )
    definition_distinct: bool = Field(
        False,
        description="edits, classifiers: after a complete definition set is written, two labels whose lines share "
        "most of their content words (in code; gepetto.proposers.distinct) are told apart: the line of the one with "
        "fewer training texts is written again beside the other's texts and line, and kept when it shares less with "
        "it. One reflection call per blurred pair, no rollouts. Measured with the 1.5B on banking-9 (docs/measurements.md, 'Spread "
        "examples and distinct lines'): on six sets scored with and without the step, test 0.763 vs 0.762",
    )
    definition_samples: int = Field(
        1, ge=1, le=9,
        description="edits, classifiers: lines sampled per label for a complete definition set; with more than one, "
        "the one most like the others (word overlap, in code; gepetto.proposers.consensus) goes into the set, which "
        "drops details a single sample made up. No rollouts, one reflection call per sample. 1: the first line. "
        "Measured with the 1.5B on banking-9 (docs/measurements.md, 'Consensus lines'): 5 samples raised fixed sets' mean test "
        "0.740 -> 0.758 but three-seed runs at budget 300 to 0.730 vs 0.750, so it is opt-in",
    )
    define_unseen_labels: bool = Field(
        True,
        description="edits, classifiers whose system names its labels (PromptSystem.labels): work from that whole "
        "label list (prompts name every label, confusions with any label are planned) and define in a complete "
        "set also the labels no training example shows, from the label's name. false: only the labels the "
        "training examples show (the behaviour before; measured in docs/measurements.md)",
    )
    unseen_definition: Literal["model", "name"] = Field(
        "model",
        description="with define_unseen_labels: how a label no training example shows is defined. 'model': the "
        "reflection LM writes a line from the label's name; 'name': code writes the name itself as the line "
        "(card_swallowed -> 'card swallowed'), no reflection call. Why 'name' exists: a small model's line from a name "
        "alone adds what it guesses ('a card accidentally swallowed by a person'), which the task model then follows. "
        "Measured on banking-9 (docs/measurements.md): 0.723 over three seeds against the default's 0.733-0.750, so 'model' stays the default",
    )
    demonstrations: bool = Field(
        True,
        description="edits: propose a demonstrations section built from training examples, appended last. A "
        "classifier (after its first definition set) gets one training input per label with its label; a task "
        "without a label set (after its task description) gets a worked example — an input the parent got wrong, "
        "with numbered steps the reflection LM writes toward its gold answer (code checks that the last step "
        "reaches it). Answer lines take the form of the task's own correct replies. The only edit that places "
        "training inputs in the text, on purpose; the minibatch gate and validation decide whether it stays. "
        "false: definitions and rules only",
    )
    demonstrations_layout: Literal["section", "labelled", "inline"] = Field(
        "labelled",
        description="edits, classifiers with a definitions list: how the training inputs are shown. 'labelled' (the "
        "default): an 'Examples:' section after the definitions, one line per example, label first "
        "('card_arrival: \"Can I track ...\"'), and every label no training input shows named in it ('card_swallowed: "
        "(no example)'). 'section': the same section with each input followed by its label, as the task's own turn "
        "looks; a small task model then sends queries unlike every example to the one label the section never shows. "
        "'inline': each input quoted at the end of its own label's definition line ('- card_arrival: ... Example: "
        "\"...\"'). Measured with the 1.5B (docs/measurements.md, 'The section label first'): on the dev queries of two "
        "BANKING77 groups 'labelled' scored +1.4 points over 'section' and 'inline' gave back top-up's gain; in three-seed "
        "banking-9 runs at budget 300 it reached test 0.787 (+8.7) against 'section''s 0.730 on the same seeds, while on "
        "banking-top-up's runs 'section' was ahead (0.783 against 0.730): which form serves a task best is measured per task. "
        "Without a definitions list the inline quotes start one (a label's line is then its example alone, until a "
        "definition set gives it words)",
    )
    demonstrations_per_label: int = Field(
        1, ge=1, le=8,
        description="edits, classifiers: training inputs per label in the examples section, in rounds over the "
        "label list (fewer when the text would pass max_text_chars). Measured with the 1.5B (docs/measurements.md, "
        "'Demonstrations'): over three nine-intent BANKING77 groups, fixed instructions, mean test 0.757 with one "
        "per label, 0.767 with two or three; in three-seed banking-9 runs two per label gained nothing over one "
        "and made runs a third slower (longer prompts), so one is the default",
    )
    definition_choice: Literal["validation", "likelihood"] = Field(
        "validation",
        description="with definition_sets > 1: 'validation' lets each set compete as its own child (minibatch gate, "
        "validation); 'likelihood' samples all sets in the first edit and proposes the one under which the task model "
        "finds the validation examples' gold labels most likely (one short forced call per example and set, charged "
        "as rollouts; needs an endpoint with logprobs and grammar, e.g. the embedded llama-server)",
    )

    @model_validator(mode="after")
    def _choice_needs_sets(self) -> "ReflectionConfig":
        if self.definition_choice == "likelihood" and self.definition_sets < 2:
            raise ValueError(
                "reflection.definition_choice 'likelihood' chooses among several definition sets: "
                "set reflection.definition_sets to 2 or more (e.g. 3)"
            )
        return self


class Config(_Strict):
    """Settings of one run. Every field has a sensible default."""

    max_rollouts: int = Field(300, ge=1, description="budget: metric calls, train and validation")
    seed: int = 0
    minibatch_size: int = Field(3, ge=1)

    selector: Literal["pareto", "current-best", "beam", "epsilon-greedy"] = "pareto"
    frontier: Literal["instance", "objective", "hybrid"] = "instance"
    beam_width: int = Field(4, ge=1)
    epsilon: float = Field(0.1, ge=0.0, le=1.0)
    tie_tolerance: float = Field(1e-9, ge=0.0)

    module_selection: Literal["round-robin", "all"] = "round-robin"
    gate: Literal["improve", "not-worse"] = Field(
        "improve", description="child minibatch sum must beat (or match) the parent's"
    )
    gate_ties: Literal["reject", "extend"] = Field(
        "reject",
        description="a child that ties its parent on the minibatch: reject it (the paper), or score both on one "
        "more minibatch and judge them on the two together (extend)",
    )
    skip_perfect_minibatch: bool = True
    minibatch_focus: Literal["failures", "none"] = Field(
        "none",
        description="failures: each minibatch is led by one training example the parent (or, where the parent "
        "was never run on it, its nearest ancestor that was) got wrong, least-used first, so reflection always has "
        "an error to read; none: the paper's epoch-shuffled minibatches",
    )
    perfect_score: float = 1.0
    failure_score: float = 0.0
    max_failed_batches: int = Field(
        3, ge=1, description="stop (resumable) after this many consecutive batches where every rollout failed"
    )
    reuse_evaluations: bool = Field(
        True, description="never pay twice for the same (candidate, example) evaluation"
    )

    validation: Literal["staged", "full"] = Field(
        "staged",
        description="staged: score an accepted child on the validation set in stages and park it as soon as it "
        "provably can neither enter the Pareto front nor beat the best mean (gepetto.core.staging); full: the paper's "
        "full validation pass for every accepted child",
    )
    stage_size: int = Field(
        0, ge=0, description="staged validation: instances per stage after the first (0: a quarter of the validation set, at least 5)"
    )

    parallel_proposals: int = Field(
        1, ge=1, le=16,
        description="proposal pipelines in flight at once (gepetto.core.rounds): while one reflection is "
        "written, other pipelines' minibatches and validations run; the same seed and setting give the same run",
    )

    use_merge: bool = True
    max_merges: int = Field(5, ge=0)
    merge_subsample: int = Field(5, ge=1)

    holdout_top_k: int = Field(
        3, ge=1, description="with optimize(holdout=...): finalists (besides the seed) scored on the held-out examples"
    )

    max_iterations: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0)
    patience: int | None = Field(None, ge=1, description="stop after N proposals without a new best")
    target_score: float | None = None

    reflection: ReflectionConfig = Field(default_factory=ReflectionConfig)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.max_rollouts < 2 * self.minibatch_size:
            raise ValueError(
                f"max_rollouts={self.max_rollouts} cannot pay for one proposal "
                f"(2 x minibatch_size={self.minibatch_size}); raise max_rollouts"
            )
        return self

    @classmethod
    def paper_mode(cls, **overrides: object) -> "Config":
        """The paper's loop, with every gepetto addition switched off: full-rewrite
        reflection, no refusal before evaluation, no resampling, no Merge, no reuse of
        known (candidate, example) scores, full validation of every accepted child, no
        held-out check. Benchmarks call this
        setting "paper mode"; ``overrides`` set the budget, seed and so on."""
        settings: dict[str, object] = {
            "selector": "pareto", "use_merge": False, "validation": "full", "gate_ties": "reject", "reuse_evaluations": False, "gate": "improve",
            "skip_perfect_minibatch": True, "minibatch_focus": "none",
            "reflection": ReflectionConfig(strategy="rewrite", refuse=False, max_resamples=0, copy_ngram=0),
        }
        settings.update(overrides)
        return cls(**settings)
