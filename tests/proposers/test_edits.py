"""Typed edits: code does the error analysis and applies the edit; the LM writes one line."""

from __future__ import annotations

import random

import pytest

from gepetto import Candidate, Config, ModuleRecord, ReflectionConfig, optimize
from gepetto.lm import ScriptedLM
from gepetto.proposers.edits import DEFINITIONS_HEADER, EditProposer, join_sections, name_line, split_sections
from gepetto.proposers.neighbours import nearest_labels, spread_texts
from gepetto.systems.metrics import LabelMetric
from gepetto.systems.prompt_system import PromptSystem

LABELS = ["card_arrival", "lost_or_stolen_card", "declined_transfer"]


def filling_the_form(definition: str):  # noqa: ANN201
    """A scripted reflection reply: the prompt's last line (its reply form, ``<label>: <definition>``
    or ``<label>: <situation>``) with ``definition`` in the slot."""
    return lambda messages: messages[-1]["content"].rsplit("\n", 1)[-1].replace("<definition>", definition).replace("<situation>", definition)


def rec(text: str, expected: str, output: str, score: float) -> ModuleRecord:
    return ModuleRecord("classify", {"input": text}, output, f"expected {expected}", score, expected)


def test_sections_round_trip() -> None:
    text = join_sections("Classify the query.", {"a": "about A", "b": "about B"}, ["Answer with one label."])
    assert split_sections(text) == ("Classify the query.", {"a": "about A", "b": "about B"}, ["Answer with one label."])
    assert split_sections("Just a body.\nTwo lines.") == ("Just a body.\nTwo lines.", {}, [])


def test_confusion_becomes_a_definition_request_and_is_applied_by_code() -> None:
    lm = ScriptedLM(replies=["card_arrival: the customer is waiting for a new card that has not been delivered yet"])
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0, demonstrations=False), labels=LABELS, use_grammar=True, define_all_first=False)
    records = [
        rec("My new card still has not come in the mail", "card_arrival", "lost_or_stolen_card", 0.0),
        rec("I think someone took my card", "lost_or_stolen_card", "lost_or_stolen_card", 1.0),
    ]
    candidate = Candidate({"classify": "Classify the query. Answer with the label only."})
    proposal = proposer.propose(candidate, "classify", records, rng=random.Random(0), iteration=1)
    assert proposal.text is not None
    body, definitions, rules = split_sections(proposal.text)
    assert body == "Classify the query. Answer with the label only."
    assert definitions == {"card_arrival": "the customer is waiting for a new card that has not been delivered yet"}
    prompt = lm.calls[0].messages[-1]["content"]
    # code did the error analysis: the confusion and examples of both labels are named
    assert '"card_arrival"' in prompt and 'wrongly answered "lost_or_stolen_card"' in prompt
    assert "someone took my card" in prompt
    assert lm.calls[0].params["grammar"].startswith('root ::= "card_arrival: "')


def test_second_definition_of_a_label_replaces_the_first() -> None:
    lm = ScriptedLM(replies=["card_arrival: a new card that has not arrived at the customer's address yet"])
    current = join_sections("Classify.", {"card_arrival": "old words", "declined_transfer": "a transfer was refused"}, [])
    proposal = EditProposer(lm, labels=LABELS).propose(
        Candidate({"classify": current}), "classify", [rec("where is my card", "card_arrival", "declined_transfer", 0.0)],
        rng=random.Random(0), iteration=2,
    )
    _, definitions, _ = split_sections(proposal.text or "")
    assert definitions["card_arrival"].startswith("a new card") and definitions["declined_transfer"] == "a transfer was refused"
    assert list(definitions) == ["card_arrival", "declined_transfer"]


def test_first_edit_defines_every_label_that_has_examples() -> None:
    lm = ScriptedLM(respond=filling_the_form("questions generally about this kind of banking problem"))
    proposer = EditProposer(lm, ReflectionConfig(define_unseen_labels=False), labels=LABELS + ["card_payment_declined"])
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(6)])
    proposal = proposer.propose(
        Candidate({"classify": "Classify."}), "classify", [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)],
        rng=random.Random(0), iteration=1,
    )
    _, definitions, _ = split_sections(proposal.text or "")
    assert list(definitions) == LABELS  # the label without examples is not defined when told so
    samples = ReflectionConfig().definition_samples
    assert len(lm.calls) == 3 * samples  # each label's line is chosen from its samples
    assert len({c.sample_index for c in lm.calls}) == 3 * samples
    first_prompt = lm.calls[0].messages[-1]["content"]
    assert first_prompt.count("- text") == 4  # examples_per_label examples shown


def test_definitions_ask_for_the_writers_situation_unless_told_to_describe() -> None:
    """The wording measured better with the 1.5B ('situation') is the default; 'describe'
    keeps the earlier request. Only the ask for a label with examples changes."""
    def ask(wording: str | None) -> list[str]:
        lm = ScriptedLM(respond=filling_the_form("a general line"))
        config = ReflectionConfig() if wording is None else ReflectionConfig(definition_wording=wording)
        proposer = EditProposer(lm, config, labels=LABELS)
        proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS[:2] for i in range(3)])
        proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify",
                                    [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)],
                                    rng=random.Random(0), iteration=1)
        assert proposal.text is not None
        return [c.messages[-1]["content"] for c in lm.calls]

    default, describe = ask(None), ask("describe")
    assert "what situation the writer of such a text is in" in default[0] and default[0].endswith("card_arrival: <situation>")
    assert "Describe in general what such texts ask about" in describe[0] and "situation" not in describe[0]
    assert default[-1] == describe[-1]  # the label without examples is asked for from its name either way


def test_non_classification_failures_get_a_rule() -> None:
    lm = ScriptedLM(replies=["Rule: Always convert the final result to hexadecimal before answering."])
    record = ModuleRecord("format", {"value": "42"}, "42", "the answer must be written in hexadecimal", 0.0, None)
    proposal = EditProposer(lm).propose(Candidate({"format": "Write the number."}), "format", [record], rng=random.Random(0), iteration=0)
    assert proposal.text == "Write the number.\n\nRules:\n- Always convert the final result to hexadecimal before answering."


def test_copied_training_text_and_chatter_are_refused_then_resampled() -> None:
    lm = ScriptedLM(replies=[
        "card_arrival: My new card still has not come in the mail",  # copies the input
        "card_arrival: Sure! Please provide the texts.",  # chatter
        "card_arrival: waiting for a card that was ordered but not delivered",
    ])
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=2), labels=LABELS, define_all_first=False).propose(
        Candidate({"classify": "Classify."}), "classify",
        [rec("My new card still has not come in the mail", "card_arrival", "lost_or_stolen_card", 0.0)],
        rng=random.Random(0), iteration=0,
    )
    assert [a.refusal for a in proposal.attempts] == ["copied-training-input", "chatter", None]
    assert DEFINITIONS_HEADER in (proposal.text or "")


def test_edits_strategy_drives_a_run_to_the_right_labels() -> None:
    """A fake task model that only gets label X right once X is defined in its instruction."""
    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]

    def task_respond(messages):
        instruction, query = messages[0]["content"], messages[-1]["content"]
        _, definitions, _ = split_sections(instruction)
        truth = query.split(" about ")[1]
        return truth if truth in definitions or truth == LABELS[0] else LABELS[0]

    def reflection_respond(messages):
        prompt = messages[-1]["content"]
        label = prompt.rsplit("\n", 1)[-1].split(":")[0]  # the reply form's last line: "<label>: <...>"
        return f"{label}: texts that are generally about {label.replace('_', ' ')} matters"

    metric = LabelMetric(LABELS)
    system = PromptSystem(ScriptedLM(respond=task_respond), "Classify the query.", lambda ex: ex["text"],
                          lambda ex, reply: metric(ex["label"], reply), module="classify", expected=lambda ex: ex["label"])
    config = Config(max_rollouts=80, minibatch_size=3, reflection=ReflectionConfig(strategy="edits"))
    result = optimize(system, data, data[:9], reflection_lm=ScriptedLM(respond=reflection_respond), config=config)
    assert result.seed_score < 0.5 and result.best_score == 1.0
    _, definitions, _ = split_sections(result.best_candidate["classify"])
    assert set(definitions) >= set(LABELS[1:])


def test_open_answers_get_rules_and_each_module_has_its_own_memory() -> None:
    """Expected answers that do not repeat (names, years) are not a label set: the answer
    module of a QA program gets a rule request, never label definitions, and what one
    module expected never leaks into another module's label set."""
    lm = ScriptedLM(replies=["Rule: Answer with the name or the year alone, as written in the passages."] * 3)
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), use_grammar=True, describe_first=False)
    answers = [("Who is the mayor of Ravk?", "Henrike Marrow"), ("When was Ostby founded?", "1156"),
               ("Where is Amber Guild?", "Ordmere"), ("Who leads Belk?", "Dorin Pell")]
    records = [ModuleRecord("answer", {"question": q}, "I do not know", "wrong", 0.0, a) for q, a in answers]
    proposal = proposer.propose(Candidate({"answer": "Answer the question.", "query": "Write a query."}), "answer",
                                records, rng=random.Random(0), iteration=1)
    assert proposal.text is not None and "Rules:" in proposal.text and DEFINITIONS_HEADER not in proposal.text
    assert "Write one general rule" in lm.calls[0].messages[-1]["content"]
    # a classifier module in the same proposer still sees its own repeating labels only
    labelled = [rec(t, lab, "card_arrival", 0.0 if lab != "card_arrival" else 1.0)
                for t, lab in [("card never came", "card_arrival"), ("card still not here", "card_arrival"),
                               ("stolen wallet", "lost_or_stolen_card"), ("lost it at the bar", "lost_or_stolen_card")]]
    proposer.propose(Candidate({"classify": "Classify.", "answer": "Answer."}), "classify", labelled, rng=random.Random(0), iteration=2)
    assert proposer._memories["classify"].keys() == {"card_arrival", "lost_or_stolen_card"}
    assert "Henrike Marrow" in proposer._memories["answer"]


def test_a_rule_already_in_the_instruction_is_refused() -> None:
    rule = "Always include the town named in the passages in the query."
    lm = ScriptedLM(replies=[f"Rule: {rule}"])
    current = join_sections("Write a query.", {}, [rule])
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=0)).propose(
        Candidate({"q": current}), "q", [ModuleRecord("q", {"question": "where?"}, "where?", "hop 2 failed", 0.0)],
        rng=random.Random(0), iteration=1,
    )
    assert proposal.text is None and proposal.attempts[-1].refusal == "duplicate-rule"


def test_auto_strategy_picks_edits_for_small_named_models_only() -> None:
    from gepetto.proposers.base import resolve_strategy

    class Named:
        def __init__(self, model: str) -> None:
            self.model = model

    class Wrapper:
        def __init__(self, inner: object) -> None:
            self.inner = inner

    assert resolve_strategy("auto", Wrapper(Wrapper(Named("qwen2.5-coder-1.5b")))) == "edits"
    assert resolve_strategy("auto", Named("Qwen2.5-3B-Instruct")) == "edits"
    assert resolve_strategy("auto", Named("llama-3.1-8b-instruct")) == "rewrite"
    assert resolve_strategy("auto", Named("gpt-4o-mini")) == "rewrite"  # size unknown: the paper's behaviour
    assert resolve_strategy("rewrite", Named("qwen2.5-coder-0.5b")) == "rewrite"  # explicit choice wins
    # and optimize() builds the matching proposer
    lm = ScriptedLM(respond=lambda m: "card_arrival: questions about when a newly ordered card will arrive")
    lm.model = "qwen2.5-coder-0.5b"
    system = PromptSystem(lm=ScriptedLM(replies=["card_arrival"], cycle=True), seed_instruction="Classify: " + ", ".join(LABELS),
                          render=lambda ex: ex["text"], metric=lambda ex, reply: LabelMetric(LABELS)(ex["label"], reply),
                          expected=lambda ex: ex["label"], concurrency=1)
    data = [{"text": f"query {i}", "label": LABELS[i % 3]} for i in range(12)]
    result = optimize(system, data[:6], data[6:], reflection_lm=lm, config=Config(max_rollouts=30, minibatch_size=3, use_merge=False))
    assert any(DEFINITIONS_HEADER in (p.texts.get("instruction") or "") for p in result.proposals)


def test_option_letters_and_yes_no_verdicts_are_not_labels_to_define() -> None:
    """BIG-Bench Hard answers repeat ("(B)", "yes") but a definition of "(B)" or of "yes"
    says nothing: such modules get rule requests."""
    from gepetto.proposers.edits import _meaningless_labels

    assert _meaningless_labels(["(A)", "(B)", "(C)"]) and _meaningless_labels(["yes", "no"])
    assert _meaningless_labels(["True", "False"]) and _meaningless_labels(["3", "12", "7"])
    assert not _meaningless_labels(["card_arrival", "lost_or_stolen_card"])
    for answers in (["(A)", "(B)", "(A)", "(B)", "(C)", "(C)"], ["yes", "no", "yes", "no"]):
        lm = ScriptedLM(replies=["Rule: Check which sport the named athlete plays before judging the sentence."])
        proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), use_grammar=True, describe_first=False)
        records = [ModuleRecord("m", {"input": f"question {i}"}, "(D)", "wrong", 0.0, a) for i, a in enumerate(answers)]
        proposal = proposer.propose(Candidate({"m": "Answer the question."}), "m", records, rng=random.Random(0), iteration=1)
        assert proposal.text is not None and "Rules:" in proposal.text and DEFINITIONS_HEADER not in proposal.text
        assert "Write one general rule" in lm.calls[0].messages[-1]["content"]


def test_a_module_without_labels_first_gets_a_task_description_then_rules() -> None:
    """The first edit of a non-classification module states the task and the answer form
    (written from solved examples) at the top; later edits are rules."""
    lm = ScriptedLM(replies=[
        "Task: Decide whether the sentence about an athlete is plausible and answer yes or no.",
        "Rule: Check which sport the named athlete plays before judging the sentence.",
    ])
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), use_grammar=True)
    records = [ModuleRecord("m", {"input": f"Player {i} scored a touchdown."}, "maybe", "wrong", 0.0, a)
               for i, a in enumerate(["yes", "no", "no"])]
    first = proposer.propose(Candidate({"m": "Answer the question."}), "m", records, rng=random.Random(0), iteration=1)
    assert first.text == "Task: Decide whether the sentence about an athlete is plausible and answer yes or no.\nAnswer the question."
    prompt = lm.calls[0].messages[-1]["content"]
    assert "what this task asks to decide or produce" in prompt and "Correct answer: no" in prompt
    assert "Answer the question." not in prompt  # the instruction is not shown (it gets echoed back)
    second = proposer.propose(Candidate({"m": first.text}), "m", records, rng=random.Random(0), iteration=2)
    assert second.text is not None and second.text.startswith("Task: Decide") and "Rules:\n- Check which sport" in second.text
    assert "Write one general rule" in lm.calls[1].messages[-1]["content"]


def test_a_task_description_is_asked_for_twice_at_most() -> None:
    """When the gate rejects the described children, the module moves on to rules instead
    of asking for (and refusing as seen before) the same description forever."""
    lm = ScriptedLM(replies=["Task: Decide whether the sentence is plausible; answer yes or no."] * 2
                    + ["Rule: Check which sport the named athlete plays before judging the sentence."])
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), use_grammar=True)
    records = [ModuleRecord("m", {"input": f"Player {i} scored a touchdown."}, "maybe", "wrong", 0.0, a)
               for i, a in enumerate(["yes", "no"])]
    seed = Candidate({"m": "Answer the question."})
    for iteration in (1, 2, 3):
        proposer.propose(seed, "m", records, rng=random.Random(0), iteration=iteration)
    asked = [call.messages[-1]["content"] for call in lm.calls]
    assert sum("what this task asks to decide or produce" in a for a in asked) == 2
    assert "Write one general rule" in asked[2]


def test_a_description_that_echoes_the_instruction_is_refused() -> None:
    lm = ScriptedLM(replies=["Task: Answer the question. Give the final answer on the last line."])
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), use_grammar=True)
    records = [ModuleRecord("m", {"input": f"Player {i} scored."}, "maybe", "wrong", 0.0, a) for i, a in enumerate(["yes", "no"])]
    seed = Candidate({"m": "Answer the question. Give the final answer on the last line."})
    proposal = proposer.propose(seed, "m", records, rng=random.Random(0), iteration=1)
    assert proposal.text is None and proposal.attempts[0].refusal == "unchanged"


@pytest.mark.parametrize("bad_line,reason", [
    ("lost_or_stolen_card: someone took my card from my bag on the train", "copied-training-input"),  # pastes a training text
    # the 1.5B's line for the distractor of a seeded banking-9 run (2026-12-07) ended in Chinese mid-word and was kept
    ("lost_or_stolen_card: an attempt to pay has been declined. This could be due to the card being expired, the卡",
     "foreign-script:CJK"),
])
def test_a_bad_definition_line_is_re_asked_alone(bad_line: str, reason: str) -> None:
    """One bad line no longer sinks the whole first definition set."""
    replies = iter([
        "card_arrival: waiting for a card that was ordered but has not come yet",
        bad_line,
        "lost_or_stolen_card: the card is missing, lost or taken by someone else",
        "declined_transfer: a transfer of money to another account was refused",
    ])
    lm = ScriptedLM(respond=lambda m: next(replies))
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=2, definition_samples=1), labels=LABELS)
    proposer.prime([("where is my new card", "card_arrival"), ("someone took my card from my bag on the train", "lost_or_stolen_card"),
                    ("my transfer did not go through", "declined_transfer")])
    proposal = proposer.propose(
        Candidate({"classify": "Classify."}), "classify", [rec("where is my new card", "card_arrival", "declined_transfer", 0.0)],
        rng=random.Random(0), iteration=1,
    )
    _, definitions, _ = split_sections(proposal.text or "")
    assert definitions["lost_or_stolen_card"] == "the card is missing, lost or taken by someone else"
    assert [a.refusal for a in proposal.attempts] == [None, reason, None, None]
    assert len(set(c.sample_index for c in lm.calls)) == 4  # the re-ask is a fresh sample


def test_definition_sets_propose_fresh_complete_sets_before_single_edits() -> None:
    counter = iter(range(1000))

    def respond(messages):
        label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
        return f"{label}: texts of kind {next(counter)} about {label.replace('_', ' ')} matters"

    lm = ScriptedLM(respond=respond)
    proposer = EditProposer(lm, ReflectionConfig(definition_sets=2), labels=LABELS)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    failure = [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)]
    first = proposer.propose(Candidate({"classify": "Classify."}), "classify", failure, rng=random.Random(0), iteration=1)
    second = proposer.propose(Candidate({"classify": first.text or ""}), "classify", failure, rng=random.Random(0), iteration=2)
    third = proposer.propose(Candidate({"classify": second.text or ""}), "classify", failure, rng=random.Random(0), iteration=3)
    sets = [split_sections(p.text or "")[1] for p in (first, second, third)]
    assert list(sets[0]) == list(sets[1]) == LABELS
    assert all(sets[0][lab] != sets[1][lab] for lab in LABELS)  # a whole new set, not an edit
    changed = [lab for lab in LABELS if sets[1][lab] != sets[2][lab]]
    assert changed == ["card_arrival"]  # then single-label edits, as with one set


def test_a_rejected_first_set_is_asked_for_again_a_bounded_number_of_times() -> None:
    counter = iter(range(1000))

    def respond(messages):
        label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
        return f"{label}: texts of kind {next(counter)} about {label.replace('_', ' ')} matters"

    failure = [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)]
    for retries in (0, 2):
        lm = ScriptedLM(respond=respond)
        proposer = EditProposer(lm, ReflectionConfig(demonstrations=False, definition_set_retries=retries), labels=LABELS)
        proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
        defined = []
        for iteration in range(1, 6):  # the gate rejected every child: the parent is the seed each time
            proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", failure,
                                        rng=random.Random(0), iteration=iteration)
            defined.append(list(split_sections(proposal.text or "")[1]))
        complete = 1 + retries
        assert defined[:complete] == [LABELS] * complete  # fresh complete sets while the cap allows
        assert defined[complete:] == [["card_arrival"]] * (5 - complete)  # then one failing label at a time
    assert ReflectionConfig().definition_set_retries == 2


def test_a_later_set_keeps_the_parents_line_for_a_label_it_could_not_define() -> None:
    def respond(messages):
        label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
        return f"{label}: ok" if label == "declined_transfer" else f"{label}: a fresh line about {label.replace('_', ' ')}"

    lm = ScriptedLM(respond=respond)  # "ok" is a fragment: refused on every re-ask
    proposer = EditProposer(lm, ReflectionConfig(definition_sets=2, max_resamples=1), labels=LABELS)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    proposer._definition_sets["classify"] = 1  # the first set was written earlier in the run
    parent = join_sections("Classify.", {lab: f"old line about {lab}" for lab in LABELS}, [])
    proposal = proposer.propose(Candidate({"classify": parent}), "classify",
                                [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)],
                                rng=random.Random(0), iteration=5)
    definitions = split_sections(proposal.text or "")[1]
    assert list(definitions) == LABELS
    assert definitions["declined_transfer"] == "old line about declined_transfer"
    assert definitions["card_arrival"].startswith("a fresh line")


def test_every_ask_of_every_set_is_a_distinct_sample() -> None:
    lm = ScriptedLM(respond=filling_the_form("a general line about this"))
    proposer = EditProposer(lm, ReflectionConfig(definition_sets=3, definition_samples=3), labels=LABELS)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    text = "Classify."
    for iteration in range(1, 4):
        proposal = proposer.propose(Candidate({"classify": text}), "classify",
                                    [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)],
                                    rng=random.Random(0), iteration=iteration)
        text = proposal.text or text
    keys = [(c.messages[-1]["content"], c.sample_index) for c in lm.calls]
    assert len(lm.calls) == 27 and len(set(keys)) == 27  # 3 sets x 3 labels x 3 samples per line


def test_a_users_own_definitions_get_single_label_edits_even_with_several_sets() -> None:
    lm = ScriptedLM(replies=["card_arrival: a card the customer ordered that has not come yet"])
    proposer = EditProposer(lm, ReflectionConfig(definition_sets=3), labels=LABELS)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    mine = join_sections("Classify.", {lab: f"my own line about {lab}" for lab in LABELS}, [])
    proposal = proposer.propose(Candidate({"classify": mine}), "classify",
                                [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)],
                                rng=random.Random(0), iteration=1)
    definitions = split_sections(proposal.text or "")[1]
    assert len(lm.calls) == 1
    assert definitions["card_arrival"].startswith("a card") and definitions["declined_transfer"] == "my own line about declined_transfer"


class _LikelihoodTaskLM:
    """A task model that answers a query right, and finds its gold label likely, only when
    the label's definition in the instruction says 'clearly'; it honours forcing grammars
    and returns logprobs as llama-server does."""

    identity = "fake|task"

    def __init__(self) -> None:
        self.forced = 0

    def _good(self, instruction: str, label: str) -> bool:
        return "clearly" in split_sections(instruction)[1].get(label, "")

    def complete(self, messages, **params):  # noqa: ANN001, ANN003, ANN201
        from gepetto.lm.base import Completion

        instruction, query = messages[0]["content"], messages[-1]["content"]
        truth = query.split(" about ")[1]
        if "grammar" in params:
            self.forced += 1
            answer = params["grammar"].split('"')[1]
            return Completion(text=answer, logprobs=(-0.1 if self._good(instruction, answer) else -2.0, -0.01))
        return Completion(text=truth if self._good(instruction, truth) else LABELS[0])

    async def acomplete(self, messages, **params):  # noqa: ANN001, ANN003, ANN201
        return self.complete(messages, **params)


def _set_writer() -> ScriptedLM:
    """Writes complete definition sets in turn: the second of every three is the good one."""
    calls = iter(range(10_000))

    def respond(messages):
        label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
        n = next(calls)
        word = "clearly" if (n // len(LABELS)) % 3 == 1 else "vaguely"
        return f"{label}: texts {word} about {label.replace('_', ' ')} matters, sample {n}"

    return ScriptedLM(respond=respond)


def test_likelihood_choice_proposes_the_most_likely_of_several_sets() -> None:
    scored: list[str] = []

    def likelihood(text: str) -> list[float | None]:
        scored.append(text)
        return [-0.5 if "clearly" in text else -1.5] * 10

    lm = _set_writer()
    proposer = EditProposer(lm, ReflectionConfig(definition_sets=3, definition_choice="likelihood", definition_samples=1), labels=LABELS,
                            likelihood=likelihood)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    failure = [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)]
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", failure, rng=random.Random(0), iteration=1)
    assert len(scored) == 3 and proposal.rollouts == 30
    assert all("clearly" in line for line in split_sections(proposal.text or "")[1].values())
    assert [a.refusal for a in proposal.attempts].count("less-likely") == 2
    assert len({c.sample_index for c in lm.calls}) == 9  # every set is a fresh sample
    # the sets were written at once: the next edit is a single-label one
    after = proposer.propose(Candidate({"classify": proposal.text or ""}), "classify", failure, rng=random.Random(0), iteration=2)
    assert len(lm.calls) == 10 and after.rollouts == 0


def test_likelihood_choice_falls_back_when_the_endpoint_cannot_score() -> None:
    from gepetto.systems.likelihood import LikelihoodUnsupported

    def likelihood(text: str) -> list[float | None]:
        raise LikelihoodUnsupported("the endpoint returned no token logprobs")

    proposer = EditProposer(_set_writer(), ReflectionConfig(definition_sets=3, definition_choice="likelihood", definition_samples=1),
                            labels=LABELS, likelihood=likelihood)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    failure = [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)]
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", failure, rng=random.Random(0), iteration=1)
    assert proposal.text is not None and proposer.likelihood is None
    assert "likelihood-unsupported" in [a.refusal for a in proposal.attempts]
    # the other sets then compete one at a time, as with definition_choice "validation"
    second = proposer.propose(Candidate({"classify": proposal.text}), "classify", failure, rng=random.Random(0), iteration=2)
    first_set, second_set = split_sections(proposal.text)[1], split_sections(second.text or "")[1]
    assert list(second_set) == LABELS and all(first_set[lab] != second_set[lab] for lab in LABELS)


def test_likelihood_choice_compares_sets_on_the_examples_all_of_them_have() -> None:
    from gepetto.systems.likelihood import paired_means

    # set 0 failed on the hard example 2; on the shared examples set 1 is better
    assert paired_means([[-1.0, -1.0, None], [-0.9, -0.9, -5.0]]) == [-1.0, -0.9]
    answers = iter([[-1.0, -1.0, None], [-0.9, -0.9, -5.0], [-2.0, -2.0, -2.0]])
    proposer = EditProposer(_set_writer(), ReflectionConfig(definition_sets=3, definition_choice="likelihood", definition_samples=1),
                            labels=LABELS, likelihood=lambda text: next(answers), likelihood_cost=3)
    proposer.prime([(f"text {i} for {lab}", lab) for lab in LABELS for i in range(2)])
    assert proposer.check_rollouts() == 9
    failure = [rec("text 0 for card_arrival", "card_arrival", "declined_transfer", 0.0)]
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify", failure, rng=random.Random(0), iteration=1)
    assert "clearly" in (proposal.text or "")  # the second set (sample 1) won
    assert proposal.rollouts == 9 and proposer.check_rollouts() == 0


def test_a_run_with_likelihood_choice_charges_its_checks_and_finds_the_good_set() -> None:
    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]
    metric = LabelMetric(LABELS)
    task_lm = _LikelihoodTaskLM()
    system = PromptSystem(task_lm, "Classify the query.", lambda ex: ex["text"],
                          lambda ex, reply: metric(ex["label"], reply), module="classify", expected=lambda ex: ex["label"])
    config = Config(max_rollouts=80, minibatch_size=3,
                    reflection=ReflectionConfig(strategy="edits", definition_sets=3, definition_choice="likelihood",
                                                definition_samples=1))
    result = optimize(system, data, data[:9], reflection_lm=_set_writer(), config=config)
    assert result.best_score == 1.0 and result.seed_score < 0.5
    assert all("clearly" in line for line in split_sections(result.best_candidate["classify"])[1].values())
    assert result.rollouts_by_kind.get("proposal-check") == task_lm.forced == 3 * 9
    assert result.rollouts_used <= 80


def test_likelihood_checks_are_charged_and_kept_in_budget_with_parallel_proposals() -> None:
    train = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]
    val = [{"text": f"other {i} about {lab}", "label": lab} for i in range(3) for lab in LABELS]
    metric = LabelMetric(LABELS)
    for budget in (60, 30):
        task_lm = _LikelihoodTaskLM()
        system = PromptSystem(task_lm, "Classify the query.", lambda ex: ex["text"],
                              lambda ex, reply: metric(ex["label"], reply), module="classify", expected=lambda ex: ex["label"])
        config = Config(max_rollouts=budget, minibatch_size=3, parallel_proposals=2,
                        reflection=ReflectionConfig(strategy="edits", definition_sets=3, definition_choice="likelihood",
                                                definition_samples=1))
        result = optimize(system, train, val, reflection_lm=_set_writer(), config=config)
        assert result.rollouts_used <= budget
        assert result.rollouts_by_kind.get("proposal-check", 0) == task_lm.forced
        if budget == 60:
            assert task_lm.forced == 27 and result.best_score == 1.0
        else:  # 9 validation + 6 minibatch + 27 checks do not fit: no check is started
            assert task_lm.forced == 0


def test_likelihood_choice_needs_a_system_that_knows_the_answers() -> None:
    import pytest

    system = PromptSystem(ScriptedLM(replies=["x"], cycle=True), "Classify.", lambda ex: ex["text"],
                          lambda ex, reply: 0.0, module="classify")
    config = Config(max_rollouts=40, reflection=ReflectionConfig(strategy="edits", definition_sets=2,
                                                                 definition_choice="likelihood"))
    data = [{"text": f"q{i}", "label": "a"} for i in range(6)]
    with pytest.raises(ValueError, match="expected"):
        optimize(system, data, data, reflection_lm=ScriptedLM(replies=["x"], cycle=True), config=config)
    with pytest.raises(ValueError, match="definition_sets to 2 or more"):
        ReflectionConfig(definition_choice="likelihood")


def test_contrast_writes_each_definition_beside_its_nearest_label() -> None:
    lm = ScriptedLM(respond=filling_the_form("a general line about it"))
    labels = ["card_arrival", "card_delivery_estimate", "declined_transfer"]
    proposer = EditProposer(lm, ReflectionConfig(definition_contrast="nearest"), labels=labels)
    pairs = [
        ("my card has not arrived, where is the card", "card_arrival"),
        ("track the card delivery please, not arrived", "card_arrival"),
        ("how long does card delivery take", "card_delivery_estimate"),
        ("when will delivery of a new card happen, how long", "card_delivery_estimate"),
        ("my transfer was declined by the bank", "declined_transfer"),
        ("why did the transfer fail", "declined_transfer"),
    ]
    proposer.prime(pairs)
    texts: dict[str, list[str]] = {}
    for text, label in pairs:
        texts.setdefault(label, []).append(text)
    assert nearest_labels(texts)["card_arrival"] == "card_delivery_estimate"  # 'card' is shared by all: ignored
    assert nearest_labels({"a": ["x y"], "b": ["z w"]}) == {"a": "b", "b": "a"}  # two labels: each other
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify",
                                [rec("my card has not arrived, where is the card", "card_arrival", "declined_transfer", 0.0)],
                                rng=random.Random(0), iteration=1)
    assert proposal.text is not None
    first = lm.calls[0].messages[-1]["content"]
    assert 'easily mistaken for "card_delivery_estimate"' in first and "how long does card delivery take" in first
    assert 'tells it apart from "card_delivery_estimate"' in first
    plain = ScriptedLM(respond=filling_the_form("a general line about it"))
    default = EditProposer(plain, ReflectionConfig(), labels=labels)
    default.prime([("my card has not arrived", "card_arrival"), ("how long does delivery take", "card_delivery_estimate")])
    default.propose(Candidate({"classify": "Classify."}), "classify",
                    [rec("my card has not arrived", "card_arrival", "declined_transfer", 0.0)], rng=random.Random(0), iteration=1)
    assert "mistaken" not in plain.calls[0].messages[-1]["content"]


def test_unseen_labels_are_defined_from_their_names_unless_switched_off() -> None:
    lm = ScriptedLM(respond=filling_the_form("a general line about it"))
    labels = ["card_arrival", "card_swallowed"]
    proposer = EditProposer(lm, ReflectionConfig(define_unseen_labels=True), labels=labels)
    proposer.prime([("my card has not arrived", "card_arrival"), ("where is my card", "card_arrival")])
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify",
                                [rec("my card has not arrived", "card_arrival", "card_swallowed", 0.0)], rng=random.Random(0), iteration=1)
    assert list(split_sections(proposal.text or "")[1]) == labels
    unseen = lm.calls[-1].messages[-1]["content"]
    assert 'No example of "card_swallowed"' in unseen and "From what its name says" in unseen
    default = EditProposer(ScriptedLM(respond=lm.respond), ReflectionConfig(define_unseen_labels=False), labels=labels)
    default.prime([("my card has not arrived", "card_arrival"), ("where is my card", "card_arrival")])
    text = default.propose(Candidate({"classify": "Classify."}), "classify",
                           [rec("my card has not arrived", "card_arrival", "card_swallowed", 0.0)], rng=random.Random(0), iteration=1).text
    assert list(split_sections(text or "")[1]) == ["card_arrival"]


def test_unseen_definition_name_writes_the_labels_name_without_asking() -> None:
    lm = ScriptedLM(respond=filling_the_form("a general line about it"))
    labels = ["card_arrival", "card_swallowed", "top-up failed"]
    proposer = EditProposer(lm, ReflectionConfig(unseen_definition="name"), labels=labels)
    proposer.prime([("my card has not arrived", "card_arrival"), ("where is my card", "card_arrival")])
    proposal = proposer.propose(Candidate({"classify": "Classify."}), "classify",
                                [rec("my card has not arrived", "card_arrival", "card_swallowed", 0.0)], rng=random.Random(0), iteration=1)
    definitions = split_sections(proposal.text or "")[1]
    assert definitions == {"card_arrival": "a general line about it", "card_swallowed": "card swallowed",
                           "top-up failed": "top up failed"}
    assert len(lm.calls) == 1  # only the label with training texts cost a reflection call
    assert all("No example of" not in call.messages[-1]["content"] for call in lm.calls)
    assert name_line("  lost_or_stolen_card ") == "lost or stolen card"


def test_banking_names_its_labels_so_unseen_ones_can_be_defined() -> None:
    from gepetto.tasks import get_task

    system = get_task("banking-9").make_system(ScriptedLM(replies=["x"], cycle=True))
    assert system.labels is not None and "card_swallowed" in system.labels


def test_a_run_defines_a_declared_label_without_examples_unless_told_not_to() -> None:
    data = [{"text": f"query {i} about {lab}", "label": lab} for i in range(4) for lab in LABELS]
    declared = LABELS + ["card_swallowed"]
    metric = LabelMetric(declared)

    def reflection(messages):
        label = messages[-1]["content"].rsplit("\n", 1)[-1].split(":")[0]
        return f"{label}: texts that are generally about {label.replace('_', ' ')} matters"

    for flag in (True, False):
        system = PromptSystem(ScriptedLM(replies=[LABELS[0]], cycle=True), "Classify the query.", lambda ex: ex["text"],
                              lambda ex, reply: metric(ex["label"], reply), module="classify",
                              expected=lambda ex: ex["label"], labels=declared)
        lm = ScriptedLM(respond=reflection)
        optimize(system, data, data[:6], reflection_lm=lm, config=Config(
            max_rollouts=30, minibatch_size=3,
            reflection=ReflectionConfig(strategy="edits", define_unseen_labels=flag, definition_samples=1)))
        first = [c.messages[-1]["content"] for c in lm.calls[: len(declared)]]
        assert any('No example of "card_swallowed"' in prompt for prompt in first) is flag
        assert all(("card_swallowed" in prompt) is flag for prompt in first)  # the prompts name the declared list
    yes_no = PromptSystem(ScriptedLM(replies=["yes"], cycle=True), "Answer.", lambda ex: ex["text"],
                          lambda ex, reply: float(reply == ex["label"]), module="classify", expected=lambda ex: ex["label"],
                          labels=["yes", "no"])
    lm = ScriptedLM(replies=["Task: decide whether the statement holds, answering yes or no."], cycle=True)
    optimize(yes_no, [{"text": f"s{i}", "label": "no"} for i in range(6)], [{"text": "v", "label": "no"}], reflection_lm=lm,
             config=Config(max_rollouts=12, minibatch_size=3, reflection=ReflectionConfig(strategy="edits")))
    assert lm.calls and not any("Write a definition" in c.messages[-1]["content"] for c in lm.calls)  # verdicts are not labels


def test_spread_texts_start_from_the_typical_text_and_cover_the_label() -> None:
    texts = [
        "Can I track my card?",
        "Is there a tracking number for my card?",
        "I would like to track the card you sent",
        "It has been a week and I still do not have my card",
        "How do I track my card?",
    ]
    picked = spread_texts(texts, 2)
    assert "track" in picked[0].lower()  # the commonest kind of text comes first
    assert picked[1] == "It has been a week and I still do not have my card"  # then the one least like it
    assert spread_texts(texts, 2) == picked  # deterministic
    assert spread_texts(texts[:2], 4) == texts[:2]  # fewer texts than asked for: all, in order
    assert spread_texts(["a b", "a b", "c d"], 5) == ["a b", "c d"]  # repeats count once


def test_definition_examples_spread_shows_the_texts_that_cover_the_label() -> None:
    pairs = [("Can I track my card?", "card_arrival"), ("Is there a tracking number for my card?", "card_arrival"),
             ("How do I track my card?", "card_arrival"), ("I would like to track the card you sent", "card_arrival"),
             ("It has been a week and I still do not have my card", "card_arrival"),
             ("I lost my card", "lost_or_stolen_card")]
    shown = {}
    for choice in ("first", "spread"):
        lm = ScriptedLM(respond=filling_the_form("a general line about it"))
        proposer = EditProposer(lm, ReflectionConfig(definition_examples=choice, demonstrations=False), labels=LABELS[:2])
        proposer.examples_per_label = 4
        proposer.prime(pairs)
        proposer.propose(Candidate({"classify": "Classify."}), "classify",
                         [rec("Can I track my card?", "card_arrival", "lost_or_stolen_card", 0.0)], rng=random.Random(0), iteration=1)
        shown[choice] = next(c.messages[-1]["content"] for c in lm.calls if 'label is "card_arrival"' in c.messages[-1]["content"])
    assert "still do not have my card" not in shown["first"]  # the first four all ask about tracking
    assert "still do not have my card" in shown["spread"]
