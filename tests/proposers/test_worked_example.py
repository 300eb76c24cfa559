"""The worked-example edit: a training input, steps written toward its gold answer and
checked by code, and the answer line in the form of the task's own correct replies."""

from __future__ import annotations

import random

from gepetto import Candidate, Config, ModuleRecord, ReflectionConfig, optimize
from gepetto.lm import ScriptedLM
from gepetto.proposers.edits import EXAMPLE_HEADER, EditProposer, _answer_form, _solution_steps, split_example, split_sections
from gepetto.proposers.refusal import RefusalRules
from gepetto.systems.metrics import exact_answer_metric
from gepetto.systems.prompt_system import PromptSystem
from tests.proposers.test_edits import filling_the_form

SEED = "Task: Count the things the speaker has.\nAnswer the question. Give the final answer on the last line as 'Answer: <answer>'."
SHORT = "I have a goat, a frog, five pigs, and a bear. How many animals do I have?"
LONG = "I have a chair, two tables, a lamp, a bed, three couches, and an oven. How many objects do I have?"
STEPS = "1. One goat and one frog make 2.\n2. Five pigs make 2 + 5 = 7.\n3. One bear makes 7 + 1 = 8 animals."


def records() -> list[ModuleRecord]:
    return [
        ModuleRecord("m", {"input": "I have a cat and a dog. How many animals do I have?"}, "Let me count.\nAnswer: 2", "ok", 1.0, "2"),
        ModuleRecord("m", {"input": LONG}, "Answer: 7", "Wrong: expected 10", 0.0, "10"),
        ModuleRecord("m", {"input": SHORT}, "Answer: 6", "Wrong: expected 8", 0.0, "8"),
    ]


def test_answer_form_is_the_correct_replys_answer_line_with_a_slot() -> None:
    assert _answer_form("Let me count.\nAnswer: 12", "12") == "Answer: \x00answer\x00"
    assert _answer_form("The answer is (B).", "(B)") == "The answer is \x00answer\x00."
    assert _answer_form("Answer: 120", "12") is None  # 12 is not a whole answer inside 120


def test_solution_steps_must_reach_the_gold_answer() -> None:
    steps, reason = _solution_steps(STEPS, "8", truncated=False)
    assert reason is None and steps[-1] == "3. One bear makes 7 + 1 = 8 animals."
    assert _solution_steps("1. Count them.\n2. 8 items and one more make 9.", "8", False)[1] == "solution-misses-answer"
    assert _solution_steps("1. Count them.\n2. That makes eight.", "8", False)[1] == "solution-misses-answer"
    assert _solution_steps("The answer is 8.", "8", False)[1] == "fragment"
    assert _solution_steps(STEPS, "8", truncated=True)[1] == "truncated"
    assert _solution_steps("1) Read the date.\n2) So the answer is 05/01/2021.", "05/01/2021", False)[1] is None


def test_after_the_description_a_worked_example_of_the_shortest_wrong_input_is_appended() -> None:
    lm = ScriptedLM(replies=[STEPS])
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), use_grammar=True)
    proposal = proposer.propose(Candidate({"m": SEED}), "m", records(), rng=random.Random(0), iteration=3)
    assert proposal.text == SEED + "\n\n" + "\n".join([EXAMPLE_HEADER, f"Input: {SHORT}", STEPS, "Answer: 8"])
    prompt = lm.calls[0].messages[-1]["content"]
    assert f"Input: {SHORT}" in prompt and "Correct answer: 8" in prompt and "states the answer 8" in prompt
    assert lm.calls[0].params["grammar"].startswith('root ::= "1. "')
    assert split_example(proposal.text) == (SEED, "\n".join([EXAMPLE_HEADER, f"Input: {SHORT}", STEPS, "Answer: 8"]))


def test_a_solution_that_misses_the_answer_is_re_asked_on_the_next_wrong_input() -> None:
    lm = ScriptedLM(replies=["1. Count the animals.\n2. There are 9 animals.", "1. Two tables and three couches.\n2. That is 10 objects."])
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=1)).propose(
        Candidate({"m": SEED}), "m", records(), rng=random.Random(0), iteration=3,
    )
    assert [a.refusal for a in proposal.attempts] == ["solution-misses-answer", None]
    assert proposal.text is not None and f"Input: {LONG}" in proposal.text and proposal.text.endswith("Answer: 10")


def test_no_worked_example_before_a_correct_reply_shows_the_answer_form() -> None:
    """Without a correct reply the form of the answer line is unknown: a rule instead."""
    lm = ScriptedLM(replies=["Rule: Add up the number in front of every item, counting an item without one as one."])
    wrong_only = [r for r in records() if r.score == 0.0]
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=0)).propose(
        Candidate({"m": SEED}), "m", wrong_only, rng=random.Random(0), iteration=3,
    )
    assert proposal.text is not None and "Rules:\n- Add up" in proposal.text and EXAMPLE_HEADER not in proposal.text


def test_worked_example_off_gives_rules_only() -> None:
    lm = ScriptedLM(replies=["Rule: Add up the number in front of every item, counting an item without one as one."])
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=0, demonstrations=False)).propose(
        Candidate({"m": SEED}), "m", records(), rng=random.Random(0), iteration=3,
    )
    assert "Write one general rule" in lm.calls[0].messages[-1]["content"] and EXAMPLE_HEADER not in (proposal.text or "")


def test_worked_examples_are_asked_for_three_times_at_most_then_rules() -> None:
    def reply(messages: list[dict[str, str]]) -> str:
        user = messages[-1]["content"]
        if "Solve this input step by step" not in user:
            return "Rule: Count an item without a number as one item."
        return "1. Read the list.\n2. So the total is " + user.split("Correct answer: ")[1].split("\n")[0] + "."

    lm = ScriptedLM(respond=reply)
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0))
    for iteration in range(1, 6):  # the gate rejects every child: the parent stays the seed
        proposer.propose(Candidate({"m": SEED}), "m", records(), rng=random.Random(0), iteration=iteration)
    asked = ["Solve this input step by step" in c.messages[-1]["content"] for c in lm.calls]
    # the third ask (the shortest input again) was proposed before, so that iteration gets a rule
    assert asked == [True, True, True, False, False, False]
    inputs = [c.messages[-1]["content"].split("Input: ")[1].split("\n")[0] for c in lm.calls[:3]]
    assert inputs == [SHORT, LONG, SHORT]  # a re-ask starts on the next wrong input


def test_later_edits_keep_the_worked_example_last_and_may_keep_its_input() -> None:
    block = "\n".join([EXAMPLE_HEADER, f"Input: {SHORT}", STEPS, "Answer: 8"])
    current = SEED + "\n\n" + block
    lm = ScriptedLM(replies=["Rule: Count an item without a number in front of it as one item."])
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=0)).propose(
        Candidate({"m": current}), "m", records(), rng=random.Random(0), iteration=9,
    )
    assert proposal.text is not None, proposal.attempts
    assert proposal.text.endswith(block) and "Rules:\n- Count an item" in proposal.text
    body, _, rules = split_sections(split_example(proposal.text)[0])
    assert body == SEED and rules == ["Count an item without a number in front of it as one item."]


def test_the_copy_guard_allows_only_the_worked_examples_own_input() -> None:
    rules = RefusalRules(copy_ngram=5)
    text = SEED + "\n\n" + "\n".join([EXAMPLE_HEADER, f"Input: {SHORT}", STEPS, "Answer: 8"])
    inputs = [SHORT, LONG]
    assert rules.check(text, parent_text=SEED, training_inputs=inputs) == "copied-training-input"
    assert RefusalRules(copy_ngram=5).check(text, parent_text=SEED, training_inputs=inputs, allowed=SHORT) is None
    pasted = text + "\nAlso: I have a chair, two tables, a lamp, a bed"
    assert RefusalRules(copy_ngram=5).check(pasted, parent_text=SEED, training_inputs=inputs, allowed=SHORT) == "copied-training-input"


def test_a_run_keeps_the_worked_example_the_task_model_learns_from() -> None:
    """End to end with a scripted task model that counts right only when shown a worked
    example: the run proposes one and returns it as the best candidate."""
    def task_reply(messages: list[dict[str, str]]) -> str:
        question = messages[-1]["content"]
        truth = question.split("#")[1]
        return f"Counting.\nAnswer: {truth}" if EXAMPLE_HEADER in messages[0]["content"] or truth == "1" else "Answer: 0"

    def example(i: int) -> dict[str, str]:
        n = 1 + i % 4
        return {"q": f"I have {n} pigs #{n}# How many?", "a": str(n)}

    system = PromptSystem(ScriptedLM(respond=task_reply), "Answer the question. End with 'Answer: <n>'.", lambda ex: ex["q"],
                          lambda ex, reply: exact_answer_metric(ex["a"], reply), module="m", expected=lambda ex: ex["a"])
    reflection = ScriptedLM(respond=lambda m: (
        "1. Each pig counts once.\n2. So there are " + m[-1]["content"].split("Correct answer: ")[1].split("\n")[0] + " pigs."
        if "Solve this input step by step" in m[-1]["content"] else "Task: count the pigs the speaker has and give the number."
    ))
    result = optimize(system, [example(i) for i in range(12)], [example(i) for i in range(12, 20)], reflection_lm=reflection,
                      config=Config(max_rollouts=80, minibatch_size=4, seed=0, reflection=ReflectionConfig(strategy="edits")))
    best = result.best_candidate["m"]
    assert EXAMPLE_HEADER in best and best.rstrip().endswith(tuple(f"Answer: {n}" for n in range(1, 5)))
    assert result.best_score == 1.0


LABELS = ["card_arrival", "lost_or_stolen_card", "declined_transfer"]
TRAIN = [
    ("Where is the card I ordered last week?", "card_arrival"),
    ("My card was stolen on the train this morning", "lost_or_stolen_card"),
    ("Still waiting on my new card, when does it come?", "card_arrival"),
    ("Why did my transfer to my landlord fail?", "declined_transfer"),
    ("I can't find my card anywhere, I think I lost it", "lost_or_stolen_card"),
]


def label_records() -> list[ModuleRecord]:
    return [
        ModuleRecord("classify", {"input": "The card I ordered has not come"}, "card_arrival", "ok", 1.0, "card_arrival"),
        ModuleRecord("classify", {"input": "Someone took my wallet with the card"}, "card_arrival", "wrong", 0.0, "lost_or_stolen_card"),
    ]


DEFINED = "Classify the query.\n\nLabel definitions:\n- card_arrival: a card not yet delivered"
FIRST_ROUND = [  # each label's first training input, in label-list order
    "Input: Where is the card I ordered last week?", "card_arrival",
    "Input: My card was stolen on the train this morning", "lost_or_stolen_card",
    "Input: Why did my transfer to my landlord fail?", "declined_transfer",
]


def ask_examples(proposer: EditProposer, iteration: int):  # noqa: ANN201
    return proposer.propose(Candidate({"classify": DEFINED}), "classify", label_records(), rng=random.Random(0), iteration=iteration)


def test_a_classifier_gets_one_training_input_per_label_after_its_definitions() -> None:
    lm = ScriptedLM(replies=["unused"])  # no LM call: code chooses the examples
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="section", demonstrations_per_label=1), labels=LABELS)
    proposer.prime(TRAIN)
    proposal = ask_examples(proposer, 2)
    assert proposal.text == DEFINED + "\n\n" + "\n".join(["Examples:", *FIRST_ROUND])
    assert not lm.calls
    # the gate rejected it: the next ask shows each label's next training input
    again = ask_examples(proposer, 3)
    assert again.text is not None and "Input: Still waiting on my new card" in again.text
    assert "Input: I can't find my card anywhere" in again.text and "Input: Why did my transfer" in again.text


def test_several_inputs_per_label_come_in_rounds_over_the_label_list() -> None:
    proposer = EditProposer(ScriptedLM(replies=["unused"]), ReflectionConfig(demonstrations_layout="section", demonstrations_per_label=2), labels=LABELS)
    proposer.prime(TRAIN)
    proposal = ask_examples(proposer, 2)
    assert proposal.text == DEFINED + "\n\n" + "\n".join([
        "Examples:", *FIRST_ROUND,
        # the second round: declined_transfer has one training input only, shown once
        "Input: Still waiting on my new card, when does it come?", "card_arrival",
        "Input: I can't find my card anywhere, I think I lost it", "lost_or_stolen_card",
    ])
    assert proposal.attempts[-1].reply == "5 training examples, 3 labels"
    # a re-ask takes each label's next inputs (the minibatch's own ones were remembered too)
    again = ask_examples(proposer, 3)
    assert again.text is not None
    assert "Input: The card I ordered has not come" in again.text and "Input: Someone took my wallet" in again.text
    assert again.text.count("Input: Why did my transfer") == 1


def test_over_the_length_cap_rounds_go_before_labels() -> None:
    proposer = EditProposer(ScriptedLM(replies=["unused"]), ReflectionConfig(demonstrations_layout="section", demonstrations_per_label=3), labels=LABELS,
                            rules=RefusalRules(copy_ngram=5, max_chars=330))
    proposer.prime(TRAIN)
    current = "Classify.\n\nLabel definitions:\n- card_arrival: a card not yet delivered"
    proposal = proposer.propose(Candidate({"classify": current}), "classify", label_records(), rng=random.Random(0), iteration=2)
    assert proposal.text is not None and len(proposal.text) <= 330
    section = proposal.text.split("Examples:\n")[1]
    assert all(label in section for label in LABELS)  # every label kept, one input each
    assert section.count("Input: ") == 3


def test_the_examples_use_the_answer_form_of_correct_replies_and_labels_missed_come_first() -> None:
    proposer = EditProposer(ScriptedLM(replies=["unused"]), ReflectionConfig(demonstrations_layout="section"), labels=LABELS, max_demonstrations=1)
    proposer.prime(TRAIN)
    records = [
        ModuleRecord("classify", {"input": "my card never came"}, "Intent: card_arrival", "ok", 1.0, "card_arrival"),
        ModuleRecord("classify", {"input": "transfer bounced"}, "Intent: card_arrival", "wrong", 0.0, "declined_transfer"),
    ]
    current = "Classify.\n\nLabel definitions:\n- card_arrival: a card not yet delivered"
    proposal = proposer.propose(Candidate({"classify": current}), "classify", records, rng=random.Random(0), iteration=2)
    assert proposal.text is not None
    assert proposal.text.endswith("Examples:\nInput: Why did my transfer to my landlord fail?\nIntent: declined_transfer")


def test_a_classifier_with_examples_goes_on_to_definitions_and_keeps_them() -> None:
    lm = ScriptedLM(replies=["card_arrival: a card the customer ordered that has not been delivered yet"])
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0), labels=LABELS, define_all_first=False)
    proposer.prime(TRAIN)
    block = "Examples:\nInput: Where is the card I ordered last week?\ncard_arrival"
    records = [ModuleRecord("classify", {"input": "my new card is late"}, "lost_or_stolen_card", "wrong", 0.0, "card_arrival")]
    proposal = proposer.propose(Candidate({"classify": "Classify.\n\n" + block}), "classify", records, rng=random.Random(0), iteration=4)
    assert proposal.text == "Classify.\n\nLabel definitions:\n- card_arrival: a card the customer ordered that has not been delivered yet\n\n" + block


def test_demonstrations_off_never_shows_training_inputs_to_a_classifier() -> None:
    lm = ScriptedLM(replies=["card_arrival: a card the customer ordered that has not been delivered yet"], cycle=True)
    proposer = EditProposer(lm, ReflectionConfig(max_resamples=0, demonstrations=False), labels=LABELS, define_all_first=False)
    proposer.prime(TRAIN)
    current = "Classify.\n\nLabel definitions:\n- card_arrival: a card not yet delivered"
    proposal = proposer.propose(Candidate({"classify": current}), "classify", label_records(), rng=random.Random(0), iteration=2)
    assert proposal.text is not None and "Examples:" not in proposal.text and "Input:" not in proposal.text


def test_examples_come_even_when_the_first_definition_set_was_rejected() -> None:
    """The gate rejected the first set (the parent is still the seed): the next edit is the
    examples section, not another set."""
    lm = ScriptedLM(respond=filling_the_form("questions about this kind of card problem"))
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="section", max_resamples=0), labels=LABELS)
    proposer.prime(TRAIN)
    seed = Candidate({"classify": "Classify the query."})
    first = proposer.propose(seed, "classify", label_records(), rng=random.Random(0), iteration=1)
    assert first.text is not None and "Label definitions:" in first.text and "Examples:" not in first.text
    second = proposer.propose(seed, "classify", label_records(), rng=random.Random(0), iteration=2)
    assert second.text is not None and second.text.startswith("Classify the query.\n\nExamples:\nInput: Where is the card")


def test_answer_forms_come_only_from_answer_lines() -> None:
    assert _answer_form("Cat 1, dog 1, so 1 + 1 = 2", "2") is None  # reasoning, not an answer line
    assert _answer_form("Answer: 7.5", "7") is None and _answer_form("Answer: -7", "7") is None
    assert _answer_form("Label: card_arrival (card_arrival)", "card_arrival") == "Label: \x00answer\x00 (\x00answer\x00)"
    assert _answer_form("anything", "") is None


def test_solution_steps_read_whole_answers_and_grouped_numbers() -> None:
    assert _solution_steps("1. Big numbers.\n2. In all 1,000,000 items.", "1000000", False)[1] is None
    assert _solution_steps("1. Check.\n2. x = 1,5", "15", False)[1] == "solution-misses-answer"
    assert _solution_steps("1. Check who came.\n2. Nobody did.", "no", False)[1] == "solution-misses-answer"
    assert _solution_steps("1. Check who came.\n2. So the answer is no.", "no", False)[1] is None
    assert _solution_steps("1. First.\n3.5 apples remain\n2. So 4.", "4", False)[0] == ["1. First.", "2. So 4."]


def test_a_refused_worked_example_still_leaves_the_iteration_a_rule() -> None:
    lm = ScriptedLM(replies=["1. Count.\n2. That is 99.", "Rule: Count an item without a number in front of it as one item."])
    proposal = EditProposer(lm, ReflectionConfig(max_resamples=0)).propose(
        Candidate({"m": SEED}), "m", records(), rng=random.Random(0), iteration=3,
    )
    assert [a.refusal for a in proposal.attempts] == ["solution-misses-answer", None]
    assert proposal.text is not None and "Rules:\n- Count an item" in proposal.text


def test_a_users_own_examples_section_is_part_of_the_body() -> None:
    users = "Classify.\n\nExamples:\nwhere is my card -> card_arrival\n\nAnswer with the label only."
    assert split_example(users) == (users, "")
    ours = users + "\n\nExamples:\nInput: my card is late\ncard_arrival"
    assert split_example(ours) == (users, "Examples:\nInput: my card is late\ncard_arrival")


def test_a_long_examples_section_shows_fewer_labels_rather_than_none() -> None:
    proposer = EditProposer(ScriptedLM(replies=["unused"]), ReflectionConfig(demonstrations_layout="section"), labels=LABELS,
                            rules=RefusalRules(copy_ngram=5, max_chars=420))
    proposer.prime([(text + " " + "and so on " * 30, label) for text, label in TRAIN])
    current = "Classify.\n\nLabel definitions:\n- card_arrival: a card not yet delivered"
    proposal = proposer.propose(Candidate({"classify": current}), "classify", label_records(), rng=random.Random(0), iteration=2)
    assert proposal.text is not None and len(proposal.text) <= 420
    assert proposal.text.count("\nInput: ") == 1 and "…" in proposal.text
    assert proposal.text.rstrip().endswith("\nlost_or_stolen_card")  # the label the parent just missed stays


def test_a_re_ask_cut_by_the_length_cap_still_takes_the_next_inputs() -> None:
    """The first ask fits two rounds (inputs 0 and 1 of each label); the re-ask, cut to one
    round by the cap, starts at input 2, not at input 1 again."""
    long_a = ["long 0 a " + "x" * 80, "long 1 a " + "x" * 80]
    train = [("short 0 a", "a"), ("short 1 a", "a"), (long_a[0], "a"), (long_a[1], "a")]
    train += [(f"short {i} b", "b") for i in range(4)]
    proposer = EditProposer(ScriptedLM(replies=["unused"]), ReflectionConfig(demonstrations_layout="section", demonstrations_per_label=2), labels=["a", "b"],
                            rules=RefusalRules(copy_ngram=50, max_chars=200))
    proposer.prime(train)
    records = [ModuleRecord("classify", {"input": "short 0 a"}, "a", "", 1.0, "a"),
               ModuleRecord("classify", {"input": "short 0 b"}, "a", "", 0.0, "b")]
    current = "Pick.\n\nLabel definitions:\n- a: one"
    first = proposer.propose(Candidate({"classify": current}), "classify", records, rng=random.Random(0), iteration=2)
    assert first.text is not None
    shown_first = [line for line in first.text.splitlines() if line.startswith("Input: ")]
    assert shown_first == ["Input: short 0 a", "Input: short 0 b", "Input: short 1 a", "Input: short 1 b"]
    again = proposer.propose(Candidate({"classify": current}), "classify", records, rng=random.Random(0), iteration=3)
    assert again.text is not None and len(again.text) <= 200
    shown_again = [line for line in again.text.splitlines() if line.startswith("Input: ")]
    assert shown_again == [f"Input: {long_a[0]}", "Input: short 2 b"]  # one round, from each label's third input


def test_inline_layout_quotes_each_labels_input_in_its_own_definition_line() -> None:
    lm = ScriptedLM(replies=["unused"])
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="inline"), labels=LABELS)
    proposer.prime(TRAIN)
    proposal = ask_examples(proposer, 2)
    assert not lm.calls and proposal.text is not None and "Examples:" not in proposal.text
    body, definitions, rules = split_sections(proposal.text)
    assert body == "Classify the query." and rules == []
    assert definitions == {  # the label's own line closed as a sentence; labels without a line get one
        "card_arrival": 'a card not yet delivered. Example: "Where is the card I ordered last week?"',
        "lost_or_stolen_card": 'Example: "My card was stolen on the train this morning"',
        "declined_transfer": 'Example: "Why did my transfer to my landlord fail?"',
    }
    assert proposal.attempts[-1].reply == "3 training examples, 3 labels, in their definition lines"
    # rejected by the gate: the re-ask quotes each label's next input instead
    again = ask_examples(proposer, 3)
    assert again.text is not None and '"Still waiting on my new card, when does it come?"' in again.text
    assert "Where is the card I ordered last week?" not in again.text


def test_inline_examples_are_asked_once_and_a_new_definition_keeps_them() -> None:
    with_examples = ('Classify.\n\nLabel definitions:\n- card_arrival: a card not yet delivered. Example: "Where is my card?"\n'
                     '- declined_transfer: a transfer failed')
    lm = ScriptedLM(replies=["card_arrival: an ordered card that has not come yet"])
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="inline", max_resamples=0), labels=LABELS)
    proposer.prime(TRAIN)
    records = [ModuleRecord("classify", {"input": "my new card is late"}, "lost_or_stolen_card", "wrong", 0.0, "card_arrival")]
    proposal = proposer.propose(Candidate({"classify": with_examples}), "classify", records, rng=random.Random(0), iteration=4)
    assert lm.calls, "a text with inline examples gets no second examples edit"
    assert proposal.text is not None
    assert split_sections(proposal.text)[1]["card_arrival"] == 'an ordered card that has not come yet. Example: "Where is my card?"'


def test_inline_layout_without_a_definitions_list_starts_one_and_a_later_set_keeps_the_quotes() -> None:
    lm = ScriptedLM(replies=["card_arrival: an ordered card not yet here", "lost_or_stolen_card: the card is gone",
                             "declined_transfer: a transfer was refused"])
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="inline", max_resamples=0), labels=LABELS)
    proposer.prime(TRAIN)
    proposer._definition_sets["classify"] = 1  # the first set was proposed and the gate rejected it
    seed = Candidate({"classify": "Classify the query."})
    quoted = proposer.propose(seed, "classify", label_records(), rng=random.Random(0), iteration=2)
    assert not lm.calls and quoted.text is not None and "Examples:" not in quoted.text
    assert split_sections(quoted.text)[1]["card_arrival"] == 'Example: "Where is the card I ordered last week?"'
    # quotes alone are not definitions: a set is still asked for, and each line keeps its label's quote
    defined = proposer.propose(Candidate({"classify": quoted.text}), "classify", label_records(), rng=random.Random(0), iteration=3)
    assert defined.text is not None
    assert split_sections(defined.text)[1] == {
        "card_arrival": 'an ordered card not yet here. Example: "Where is the card I ordered last week?"',
        "lost_or_stolen_card": 'the card is gone. Example: "My card was stolen on the train this morning"',
        "declined_transfer": 'a transfer was refused. Example: "Why did my transfer to my landlord fail?"',
    }


def test_split_inline_reads_back_what_with_inline_writes() -> None:
    from gepetto.proposers.edits import split_inline, with_inline

    line = with_inline("a transfer failed", ['It says "declined"', "why did it fail"])
    assert line == 'a transfer failed. Examples: "It says \'declined\'"; "why did it fail"'  # inner quotes swapped
    assert split_inline(line) == ("a transfer failed.", 'Examples: "It says \'declined\'"; "why did it fail"')
    assert split_inline("a plain line, no example") == ("a plain line, no example", "")
    assert with_inline(line, ["new one"]) == 'a transfer failed. Example: "new one"'
    # a definition that mentions an example of its own, not at its end, is not a quote
    own = 'asks about a fee; see Example: "ATM" in the fee list'
    assert split_inline(own) == (own, "")
    assert with_inline(own, ["Why was I charged?"]) == own + '. Example: "Why was I charged?"'


def test_the_section_layout_ignores_quotes_in_a_users_own_definitions() -> None:
    seed = 'Classify the query.\n\nLabel definitions:\n- card_arrival: Example: "Where is my card?"'
    proposer = EditProposer(ScriptedLM(replies=["unused"]), ReflectionConfig(demonstrations_layout="section"), labels=LABELS)
    proposer.prime(TRAIN)
    proposal = proposer.propose(Candidate({"classify": seed}), "classify", label_records(), rng=random.Random(0), iteration=2)
    assert proposal.text is not None and proposal.text.startswith(seed + "\n\nExamples:\nInput: ")


def test_a_new_definition_that_imitates_the_quote_form_is_cut_before_the_labels_quote() -> None:
    text = 'Classify.\n\nLabel definitions:\n- card_arrival: a late card. Example: "Where is my card?"'
    lm = ScriptedLM(replies=['card_arrival: an ordered card not yet here. Example: "when does my card come'])
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="inline", max_resamples=0), labels=LABELS)
    proposer.prime(TRAIN)
    records = [ModuleRecord("classify", {"input": "my new card is late"}, "lost_or_stolen_card", "wrong", 0.0, "card_arrival")]
    proposal = proposer.propose(Candidate({"classify": text}), "classify", records, rng=random.Random(0), iteration=4)
    assert proposal.text is not None
    assert split_sections(proposal.text)[1]["card_arrival"] == 'an ordered card not yet here. Example: "Where is my card?"'


def test_labelled_layout_writes_the_section_label_first_and_names_labels_without_inputs() -> None:
    """``demonstrations_layout: labelled``: the same inputs, label first, and a declared label
    no training input shows gets a ``(no example)`` line (on banking-9 the plain section sent
    queries unlike every example to such a label)."""
    lm = ScriptedLM(replies=["unused"])
    proposer = EditProposer(lm, ReflectionConfig(demonstrations_layout="labelled"), labels=LABELS + ["card_swallowed"])
    proposer.prime(TRAIN + [('He said "no", then the "transfer" failed', "declined_transfer")])
    proposal = ask_examples(proposer, 2)
    assert not lm.calls and proposal.text is not None
    rest, block = split_example(proposal.text)
    assert rest == DEFINED
    assert block.splitlines() == [
        "Examples:",
        'card_arrival: "Where is the card I ordered last week?"',
        'lost_or_stolen_card: "My card was stolen on the train this morning"',
        'declined_transfer: "Why did my transfer to my landlord fail?"',
        "card_swallowed: (no example)",
    ]
    # the re-ask takes each label's next input; an input's own double quotes become single ones
    again = ask_examples(proposer, 3)
    assert again.text is not None
    assert 'declined_transfer: "He said \'no\', then the \'transfer\' failed"' in again.text
    # a later edit reads the block back as the section and keeps it last
    lm2 = ScriptedLM(replies=["card_arrival: a card the customer ordered that has not been delivered yet"])
    later = EditProposer(lm2, ReflectionConfig(max_resamples=0), labels=LABELS, define_all_first=False)
    later.prime(TRAIN)
    records = [ModuleRecord("classify", {"input": "my new card is late"}, "lost_or_stolen_card", "wrong", 0.0, "card_arrival")]
    edited = later.propose(Candidate({"classify": proposal.text}), "classify", records, rng=random.Random(0), iteration=4)
    assert edited.text is not None and edited.text.endswith(block)
    assert split_sections(split_example(edited.text)[0])[1]["card_arrival"].startswith("a card the customer ordered")
