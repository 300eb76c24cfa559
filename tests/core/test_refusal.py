"""Refusal rules, exercised with real bad outputs of small reflection models.

The literal strings in BAD_OUTPUTS were produced by small local models asked to improve an
intent-classification instruction; every one of them must be refused with the given reason.
"""

from __future__ import annotations

import pytest

from gepetto.proposers.refusal import RefusalRules, normalize

PARENT = (
    "Classify the customer's banking query into exactly one intent label. "
    "Answer with the label only."
)
PARENT_WITH_FIELD = "Classify the customer's banking query into one intent label.\nQuery: {query}\nLabel:"

TRAINING_INPUTS = [
    "My card hasn't arrived yet",
    "I ordered a new card three weeks ago and it never came in the post",
    "Why was I charged a fee for topping up with my credit card?",
]

GOOD_INSTRUCTION = (
    "Classify the customer's banking query into exactly one intent label.\n"
    "Read the whole query before deciding, and decide from what the customer wants done, "
    "not from single keywords.\n"
    "If the customer is waiting for a card that was never delivered, the label is card_arrival; "
    "if a card was lost or stolen, the label is lost_or_stolen_card.\n"
    "Questions about charges when adding money are top-up fee questions, not card payment fees.\n"
    "Answer with the label only, in lowercase with underscores, and nothing else."
)


def check(text, parent=PARENT, training=TRAINING_INPUTS, truncated=False, rules=None):
    rules = rules if rules is not None else RefusalRules()
    return rules.check(text, parent_text=parent, training_inputs=training, truncated=truncated)


# --------------------------------------------------------------------------- real bad outputs

BAD_OUTPUTS = [
    ("Certainly! Please provide the inputs and the current instruction so I can help you.", "chatter"),
    (
        "## Inputs\n### Query\nMy card hasn't arrived yet\n## Generated Outputs\ncard_arrival\n## Feedback\nCorrect",
        "echo",
    ),
    ("### New Instruction", "fragment"),
    ("I'm sorry, but I can't assist with that.", "chatter"),
    ("{", "fragment"),
    ("[Your improved instruction here]", "fragment"),
    # more in the same spirit
    ("}", "fragment"),
    ("```", "fragment"),
    ("...", "fragment"),
    ("<new instruction>", "fragment"),
    ("[The improved prompt]", "fragment"),
    ("(new instruction here)", "fragment"),
    ("{instruction}", "fragment"),
    ("New instruction:", "fragment"),
    ("Label: card_arrival", "fragment"),
    ("Could you please share the examples you would like me to use?", "chatter"),
    ("As an AI language model, I do not have access to the previous examples.", "chatter"),
    ("I apologize for the confusion. Here is a better version of the instruction for you.", "chatter"),
    ("I am unable to improve the instruction without seeing the model outputs.", "chatter"),
    ("What would you like me to change in the instruction?", "chatter"),
    ("I need more information about the task before I can write the instruction.", "chatter"),
    ("I cannot help with writing this instruction.", "chatter"),
    (
        "CURRENT INSTRUCTION\nClassify the customer's banking query into one intent label.\n"
        "WHAT HAPPENED\nCase 1 (wrong, score 0)",
        "echo",
    ),
    ("Current instruction: classify banking queries into one label, answering in lowercase.", "echo"),
    ("Classify the query.\nModel output: card_arrival\nFeedback: Correct, well done.", "echo"),
    ("Example 1 - Input: my card is late. Output: card_arrival", "echo"),
    ("## Generated Outputs\ncard_arrival\nlost_or_stolen_card", "echo"),
    ("### Inputs\nWhy was my top-up charged twice?", "echo"),
]


@pytest.mark.parametrize("text,reason", BAD_OUTPUTS, ids=[f"bad{i}" for i in range(len(BAD_OUTPUTS))])
def test_real_bad_outputs_are_refused_with_reason(text, reason):
    assert check(text) == reason


@pytest.mark.parametrize("text,reason", BAD_OUTPUTS, ids=[f"bad{i}" for i in range(len(BAD_OUTPUTS))])
def test_bad_outputs_refused_also_for_parent_with_placeholder(text, reason):
    # rules that look at the text itself fire before the placeholder rule
    assert check(text, parent=PARENT_WITH_FIELD) == reason


# --------------------------------------------------------------------------- rule by rule


def test_good_instruction_passes():
    assert check(GOOD_INSTRUCTION) is None


def test_good_instruction_keeping_placeholder_passes():
    text = (
        "Classify the customer's banking query into exactly one intent label.\n"
        "Decide from what the customer wants done, not from single keywords.\n"
        "Query: {query}\nAnswer with the label only, in lowercase with underscores.\nLabel:"
    )
    assert check(text, parent=PARENT_WITH_FIELD) is None


def test_short_but_real_instruction_passes():
    assert check("Answer with one intent label only.") is None


def test_unchanged_up_to_whitespace_and_case():
    reply = "  classify the CUSTOMER'S banking query   into exactly one intent label.\n\nAnswer with the label ONLY.  "
    assert check(reply) == "unchanged"
    assert check(PARENT) == "unchanged"


def test_punctuation_change_is_not_unchanged():
    assert check(PARENT.replace("label only.", "label only!")) is None


def test_seen_before_on_second_check():
    rules = RefusalRules()
    assert check(GOOD_INSTRUCTION, rules=rules) is None
    assert check(GOOD_INSTRUCTION, rules=rules) == "seen-before"
    # up to whitespace and case
    assert check("  " + GOOD_INSTRUCTION.upper().replace("\n", "  \n "), rules=rules) == "seen-before"
    assert normalize(GOOD_INSTRUCTION) in rules.seen


def test_refused_texts_are_remembered_too():
    rules = RefusalRules()
    assert check("{", rules=rules) == "fragment"
    assert check("{", rules=rules) == "seen-before"
    assert check("Certainly! Please provide the inputs.", rules=rules) == "chatter"
    assert check("certainly!   please provide the inputs.", rules=rules) == "seen-before"


def test_seen_memory_is_per_instance():
    first, second = RefusalRules(), RefusalRules()
    assert check(GOOD_INSTRUCTION, rules=first) is None
    assert check(GOOD_INSTRUCTION, rules=second) is None
    assert second.seen is not first.seen


def test_truncated():
    assert check(GOOD_INSTRUCTION, truncated=True) == "truncated"
    # a truncated reply is not remembered as a usable text... but it is seen
    rules = RefusalRules()
    assert check(GOOD_INSTRUCTION, truncated=True, rules=rules) == "truncated"
    assert check(GOOD_INSTRUCTION, rules=rules) == "seen-before"


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty(text):
    assert check(text) == "empty"
    assert check(text, truncated=True) == "empty"


def test_too_long():
    sentence = "When the customer mentions a delayed delivery of a physical card, answer card_arrival. "
    long_text = (sentence * 3).strip()
    assert len(long_text) > 200
    assert check(long_text, rules=RefusalRules(max_chars=200)) == "too-long"
    assert check(long_text, rules=RefusalRules(max_chars=len(long_text))) is None


def test_too_long_default_limit():
    words = [f"rule{i} applies to queries of kind k{i}." for i in range(400)]
    text = " ".join(words)
    text_6000 = text[:6000].rstrip() + "."
    text_6000 = text_6000[:6000]
    assert len(text_6000) == 6000
    assert check(text_6000) is None
    assert check(text_6000 + " extra", rules=RefusalRules()) == "too-long"


def test_dropped_placeholder():
    text = (
        "Classify the customer's banking query into exactly one intent label. "
        "Answer with the label only, in lowercase."
    )
    assert check(text, parent=PARENT_WITH_FIELD) == "dropped-placeholder:query"


def test_dropped_several_placeholders_sorted():
    parent = "Answer the question using the context.\nContext: {context}\nQuestion: {question}\nAnswer:"
    text = "Answer the question in one short sentence, using only facts from the passage given."
    assert check(text, parent=parent) == "dropped-placeholder:context,question"
    kept_one = text + "\nQuestion: {question}"
    assert check(kept_one, parent=parent) == "dropped-placeholder:context"
    kept_both = "Context: {context}\nQuestion: {question}\nAnswer in one short sentence using the context only."
    assert check(kept_both, parent=parent) is None


def test_escaped_braces_are_not_placeholders():
    parent = 'Reply with JSON like {{"label": "..."}} for the query.'
    text = "Reply with a JSON object holding the single key label, and nothing else, for the query."
    assert check(text, parent=parent) is None
    # a doubled (escaped) field does not keep a real placeholder
    assert check("Classify the customer's query into one intent.\nQuery: {{query}}", parent=PARENT_WITH_FIELD) == (
        "dropped-placeholder:query"
    )


def test_copy_of_training_input_8_words():
    copied = (
        "Classify the customer's banking query into one intent label. For instance a customer may say "
        "I ordered a new card three weeks ago and then ask where it is; "
        "that is card_arrival. Answer with the label only."
    )
    assert check(copied) == "copied-training-input"


def test_copy_detection_is_case_insensitive():
    copied = (
        "Classify the banking query into one intent label. Queries like "
        "I ORDERED A NEW CARD THREE WEEKS AGO AND asked about delivery are card_arrival."
    )
    assert check(copied) == "copied-training-input"


def test_seven_word_overlap_passes():
    # "ordered a new card three weeks ago" is 7 words of a training input: allowed
    text = (
        "Classify the banking query into one intent label. A customer who ordered a new card "
        "three weeks ago is usually asking about card_arrival. Answer with the label only."
    )
    assert check(text) is None


def test_copy_check_ignores_ngrams_already_in_parent():
    parent = (
        "Classify the query. I ordered a new card three weeks ago and it never came: card_arrival."
    )
    text = (
        "Classify the banking query into one intent label. "
        "I ordered a new card three weeks ago and it never came: card_arrival. Answer with the label only."
    )
    assert check(text, parent=parent) is None


def test_copy_check_can_be_disabled():
    copied = (
        "Classify the banking query. For instance I ordered a new card three weeks ago and it never came "
        "means card_arrival."
    )
    assert check(copied) == "copied-training-input"
    assert check(copied, rules=RefusalRules(copy_ngram=0)) is None
    assert check(copied, training=[]) is None


def test_training_inputs_may_be_a_generator():
    copied = "Classify it. I ordered a new card three weeks ago and it never came in the post, so card_arrival."
    assert check(copied, training=(t for t in TRAINING_INPUTS)) == "copied-training-input"


# --------------------------------------------------------------------------- gaps found


def test_bare_leadin_is_refused():
    assert check("Here is the improved instruction:") is not None


def test_please_share_chatter_is_refused():
    assert check("Sure! Please share the inputs and the current instruction, and I will improve it.") == "chatter"


def test_cant_help_chatter_is_refused():
    assert check("I can't help with that request.") == "chatter"


def test_template_placeholder_variant_is_refused():
    assert check("[Your improved instruction goes here]") == "fragment"


def test_instruction_quoting_a_polite_request_passes():
    text = (
        "You answer customers of a bank. When the customer asks about a transfer but gives no "
        "reference, reply: 'Could you please provide the transfer reference?' and nothing else. "
        "Otherwise answer in two sentences at most."
    )
    assert check(text) is None


def test_template_words_shared_by_many_training_inputs_are_not_a_copy():
    """Templated questions ("... the town where the painter X was born?") share long
    n-grams; naming the template is fine, pasting one example's specifics is not."""
    people = ["Mirela Voss", "Tobin Quill", "Asha Rask", "Corwin Thorne", "Lidia Varga", "Pavel Zorin"]
    inputs = [f"Who is the mayor of the town where the painter {p} was born?" for p in people]
    rules = RefusalRules(copy_ngram=5)
    rule = "Instruction. Rules:\n- To find the mayor of the town where the painter was born, first name the town."
    assert rules.check(rule, parent_text="Instruction.", training_inputs=inputs) is None
    pasted = "Instruction. Rules:\n- Look up where the painter Mirela Voss was born first."
    assert rules.check(pasted, parent_text="Instruction.", training_inputs=inputs) == "copied-training-input"


def test_disabled_rules_refuse_only_empty_replies():
    rules = RefusalRules(enabled=False)
    assert rules.check("Certainly! Please provide the inputs.", parent_text=PARENT) is None
    assert rules.check(PARENT, parent_text=PARENT) is None
    assert rules.check("   ", parent_text=PARENT) == "empty"


def test_a_switch_into_another_script_is_refused() -> None:
    """Qwen-family small models drift into Chinese; a text in a script that neither the
    parent nor the training inputs use is refused, naming the script."""
    drifted = GOOD_INSTRUCTION + "\nIf the payment method is not recognized, the卡片被拒绝."
    assert check(drifted) == "foreign-script:CJK"
    assert check(GOOD_INSTRUCTION + "\nОтвечай коротко.") == "foreign-script:CYRILLIC"


def test_scripts_the_task_uses_are_not_a_switch() -> None:
    """Accents, Greek letters of formulas, and any script the parent or the data already
    use pass: the rule is about a language switch, not about non-ASCII text."""
    assert check(GOOD_INSTRUCTION + "\nTreat café and naïve spellings alike; θ is an angle.") is None
    japanese = ["カードが届きません", "My card has not arrived"]
    assert check(GOOD_INSTRUCTION + "\nQueries may be in Japanese (カード means card).", training=japanese) is None
    parent = PARENT + " 中文查询也一样。"
    assert check(GOOD_INSTRUCTION + " 中文查询也一样。", parent=parent) is None
