from __future__ import annotations

import asyncio
import threading

import pytest

from gepetto.lm import LM, CallableLM, Completion, LMError, ScriptedLM, render_messages

MSGS = [
    {"role": "user", "content": "question"},
    {"role": "system", "content": "rules"},
]


def test_render_messages_puts_system_first() -> None:
    assert render_messages(MSGS) == "rules\n\nquestion"
    assert render_messages([{"role": "user", "content": "just this"}]) == "just this"
    convo = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    assert render_messages(convo) == "q1\n\nAssistant: a1\n\nq2"


def test_callable_lm_wraps_a_function() -> None:
    seen: list[str] = []

    def fn(prompt: str) -> str:
        seen.append(prompt)
        return prompt.upper()

    lm = CallableLM(fn, name="upper")
    assert isinstance(lm, LM)
    assert lm.identity == "callable|upper"
    completion = lm.complete(MSGS, temperature=0.3, top_p=0.9)
    assert completion.text == "RULES\n\nQUESTION"
    assert seen == ["rules\n\nquestion"]
    assert completion.prompt_tokens == 2 and completion.completion_tokens == 2
    assert asyncio.run(lm.acomplete(MSGS)).text == "RULES\n\nQUESTION"


def test_callable_lm_rejects_non_str() -> None:
    with pytest.raises(LMError, match="not str"):
        CallableLM(lambda p: 42).complete(MSGS)  # type: ignore[arg-type,return-value]


def test_scripted_replies_in_order_then_exhausted() -> None:
    lm = ScriptedLM(replies=["A", "B"])
    assert isinstance(lm, LM)
    assert [lm.complete(MSGS).text for _ in range(2)] == ["A", "B"]
    with pytest.raises(LMError, match="ran out of replies"):
        lm.complete(MSGS)


def test_scripted_cycle() -> None:
    lm = ScriptedLM(replies=["A", "B"], cycle=True)
    assert [lm.complete(MSGS).text for _ in range(5)] == ["A", "B", "A", "B", "A"]


def test_scripted_respond_function() -> None:
    lm = ScriptedLM(respond=lambda messages: messages[-1]["content"][::-1])
    assert lm.complete([{"role": "user", "content": "abc"}]).text == "cba"


def test_scripted_completions_and_exceptions() -> None:
    lm = ScriptedLM(
        replies=[Completion("cut", finish_reason="length"), LMError("scripted failure"), "fine"]
    )
    assert lm.complete(MSGS).truncated
    with pytest.raises(LMError, match="scripted failure"):
        lm.complete(MSGS)
    assert lm.complete(MSGS).text == "fine"


def test_scripted_records_calls() -> None:
    lm = ScriptedLM(replies=["x"], cycle=True)
    lm.complete(MSGS, temperature=0.5, max_tokens=9, sample_index=2, stop=["\n"])
    asyncio.run(lm.acomplete([{"role": "user", "content": "second"}]))
    assert lm.call_count == 2
    call = lm.calls[0]
    assert call.messages == MSGS
    assert (call.temperature, call.max_tokens, call.sample_index) == (0.5, 9, 2)
    assert call.params == {"stop": ["\n"]}
    assert call.user == "question" and call.system == "rules"
    assert lm.prompts == ["question", "second"]
    assert lm.last.user == "second"
    lm.reset()
    assert lm.call_count == 0


def test_scripted_records_a_copy_of_messages() -> None:
    lm = ScriptedLM(replies=["x"])
    messages = [{"role": "user", "content": "before"}]
    lm.complete(messages)
    messages[0]["content"] = "after"
    assert lm.last.user == "before"


def test_scripted_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError):
        ScriptedLM()
    with pytest.raises(ValueError):
        ScriptedLM(replies=["a"], respond=lambda m: "b")
    with pytest.raises(ValueError):
        ScriptedLM(replies=[])


def test_scripted_is_thread_safe() -> None:
    lm = ScriptedLM(replies=[str(i) for i in range(200)])
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            text = lm.complete(MSGS).text
            with lock:
                results.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=int) == [str(i) for i in range(200)]
    assert lm.call_count == 200
