"""System-aware Merge: crossover, planning and the screening subsample. Also Candidate/Lineage."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

from gepetto.core.candidate import Candidate, Lineage
from gepetto.core.merge import MergePlan, combine, merge_subsample, plan_merge

ANC = Candidate({"m1": "anc one", "m2": "anc two", "m3": "anc three"})


# --------------------------------------------------------------------------- combine


def test_combine_takes_each_module_from_the_descendant_that_changed_it():
    a = ANC.with_text("m1", "A one")
    b = ANC.with_text("m2", "B two")
    merged, from_a, from_b = combine(ANC, a, b, 0.5, 0.6)
    assert merged.to_dict() == {"m1": "A one", "m2": "B two", "m3": "anc three"}
    assert from_a == ("m1",)
    assert from_b == ("m2",)


def test_combine_keeps_ancestor_text_where_neither_changed():
    a = ANC.with_text("m1", "A one")
    b = ANC.with_text("m1", "A one")  # same change on both sides: not a conflict of texts
    merged, from_a, from_b = combine(ANC, a, b, 0.1, 0.9)
    assert merged["m2"] == "anc two" and merged["m3"] == "anc three"
    assert merged["m1"] == "A one"
    assert "m2" not in from_a + from_b and "m3" not in from_a + from_b


@pytest.mark.parametrize(
    "mean_a,mean_b,winner",
    [(0.4, 0.6, "b"), (0.6, 0.4, "a"), (0.5, 0.5, "a")],
)
def test_combine_conflict_goes_to_better_mean_a_on_tie(mean_a, mean_b, winner):
    a = Candidate({"m1": "A one", "m2": "A two", "m3": "anc three"})
    b = Candidate({"m1": "B one", "m2": "anc two", "m3": "B three"})
    merged, from_a, from_b = combine(ANC, a, b, mean_a, mean_b)
    assert merged["m1"] == ("A one" if winner == "a" else "B one")
    assert merged["m2"] == "A two"
    assert merged["m3"] == "B three"
    if winner == "a":
        assert from_a == ("m1", "m2") and from_b == ("m3",)
    else:
        assert from_a == ("m2",) and from_b == ("m1", "m3")


def test_combine_random_modules():
    rng = random.Random(0)
    for _ in range(200):
        names = [f"mod{i}" for i in range(rng.randint(1, 6))]
        anc = Candidate({n: f"anc {n}" for n in names})
        a = Candidate({n: (f"a {n}" if rng.random() < 0.5 else anc[n]) for n in names})
        b = Candidate({n: (f"b {n}" if rng.random() < 0.5 else anc[n]) for n in names})
        ma, mb = rng.random(), rng.random()
        merged, from_a, from_b = combine(anc, a, b, ma, mb)
        assert set(from_a).isdisjoint(from_b)
        for n in names:
            ca, cb = a[n] != anc[n], b[n] != anc[n]
            if ca and (not cb or ma >= mb):
                assert merged[n] == a[n] and n in from_a
            elif cb:
                assert merged[n] == b[n] and n in from_b
            else:
                assert merged[n] == anc[n] and n not in from_a + from_b


# --------------------------------------------------------------------------- plan_merge


def pool_two_branches():
    """0: seed; 1: changes m1; 2: changes m2 (both children of 0)."""
    cands = [ANC, ANC.with_text("m1", "A one"), ANC.with_text("m2", "B two")]
    lineage = Lineage()
    lineage.add(())
    lineage.add((0,))
    lineage.add((0,))
    return cands, lineage


def test_plan_merge_simple_two_branches():
    cands, lineage = pool_two_branches()
    means = np.array([0.3, 0.5, 0.6])
    tried: set = set()
    plan = plan_merge(cands, lineage, means, [1, 2], tried, random.Random(0))
    assert isinstance(plan, MergePlan)
    assert plan.ancestor == 0
    assert {plan.first, plan.second} == {1, 2}
    assert plan.triple == (0, 1, 2)
    assert plan.candidate.to_dict() == {"m1": "A one", "m2": "B two", "m3": "anc three"}
    first_mod = "m1" if plan.first == 1 else "m2"
    second_mod = "m2" if plan.first == 1 else "m1"
    assert plan.from_first == (first_mod,)
    assert plan.from_second == (second_mod,)
    assert tried == set()  # the caller records the triple once it acts on the plan


def test_plan_merge_none_when_one_descends_from_the_other():
    cands = [ANC, ANC.with_text("m1", "A one"), ANC.with_text("m1", "A one").with_text("m2", "B two")]
    lineage = Lineage()
    for parents in [(), (0,), (1,)]:
        lineage.add(parents)
    means = np.array([0.1, 0.5, 0.6])
    for front in ([1, 2], [2, 1], [0, 2], [0, 1]):
        assert plan_merge(cands, lineage, means, front, set(), random.Random(0)) is None


def test_plan_merge_none_for_grandchild_via_merge_parent():
    # 3 is a merge of 1 and 2: 3 descends from both, so (1,3) and (2,3) are not mergeable
    cands, lineage = pool_two_branches()
    cands.append(Candidate({"m1": "A one", "m2": "B two", "m3": "anc three"}))
    lineage.add((1, 2))
    means = np.array([0.3, 0.5, 0.6, 0.7])
    assert plan_merge(cands, lineage, means, [1, 3], set(), random.Random(0)) is None
    assert plan_merge(cands, lineage, means, [3, 2], set(), random.Random(0)) is None


def test_plan_merge_skips_tried_triples():
    cands, lineage = pool_two_branches()
    means = np.array([0.3, 0.5, 0.6])
    assert plan_merge(cands, lineage, means, [1, 2], {(0, 1, 2)}, random.Random(0)) is None


def test_plan_merge_tried_triple_falls_back_to_next_ancestor():
    # 0 -> 1 -> {2, 3}: common ancestors of 2 and 3 are 0 and 1
    c0 = ANC
    c1 = ANC.with_text("m3", "mid three")
    c2 = c1.with_text("m1", "A one")
    c3 = c1.with_text("m2", "B two")
    lineage = Lineage()
    for parents in [(), (0,), (1,), (1,)]:
        lineage.add(parents)
    means = np.array([0.2, 0.4, 0.6, 0.7])
    plan = plan_merge([c0, c1, c2, c3], lineage, means, [2, 3], set(), random.Random(0))
    assert plan is not None and plan.ancestor == 1  # the better ancestor first
    assert plan.candidate.to_dict() == {"m1": "A one", "m2": "B two", "m3": "mid three"}
    tried = {(1, 2, 3)}
    plan = plan_merge([c0, c1, c2, c3], lineage, means, [2, 3], tried, random.Random(0))
    assert plan is not None and plan.ancestor == 0
    # over ancestor 0 both changed m3 identically, so m3 comes from the first side
    assert plan.candidate.to_dict() == {"m1": "A one", "m2": "B two", "m3": "mid three"}


def test_plan_merge_requires_each_side_to_contribute_an_unshared_module():
    means = np.array([0.1, 0.5, 0.6])
    lineage = Lineage()
    for parents in [(), (0,), (0,)]:
        lineage.add(parents)
    # b changed m1 too (conflict, b better) and m2: a has nothing of its own to give
    a = ANC.with_text("m1", "A one")
    b = ANC.with_text("m1", "B one").with_text("m2", "B two")
    tried: set = set()
    assert plan_merge([ANC, a, b], lineage, means, [1, 2], tried, random.Random(0)) is None
    assert tried == {(0, 1, 2)}  # remembered as not worth trying
    # both changed the same single module: nothing to cross
    b2 = ANC.with_text("m1", "B one")
    assert plan_merge([ANC, a, b2], lineage, means, [1, 2], set(), random.Random(0)) is None
    # one side changed nothing at all
    assert plan_merge([ANC, a, ANC.with_text("m1", "anc one")], lineage, means, [1, 2], set(), random.Random(0)) is None


def test_plan_merge_refuses_when_merged_candidate_exists():
    cands, lineage = pool_two_branches()
    cands.append(Candidate({"m1": "A one", "m2": "B two", "m3": "anc three"}))
    lineage.add((0,))  # reached independently, not a descendant of 1 or 2
    means = np.array([0.3, 0.5, 0.6, 0.4])
    tried: set = set()
    assert plan_merge(cands, lineage, means, [1, 2], tried, random.Random(0)) is None
    assert (0, 1, 2) in tried


@pytest.mark.parametrize(
    "means,ok",
    [
        ([0.55, 0.5, 0.6], False),  # ancestor better than parent 1
        ([0.65, 0.5, 0.6], False),  # better than both
        ([0.5, 0.5, 0.6], True),  # equal to the worse parent: allowed
        ([0.1, 0.5, 0.6], True),
    ],
)
def test_plan_merge_refuses_ancestors_better_than_a_parent(means, ok):
    cands, lineage = pool_two_branches()
    plan = plan_merge(cands, lineage, np.array(means), [1, 2], set(), random.Random(0))
    assert (plan is not None) == ok


def test_plan_merge_no_common_ancestor():
    cands = [ANC, Candidate({"m1": "x", "m2": "y", "m3": "z"}), ANC.with_text("m1", "A"), Candidate({"m1": "x", "m2": "Y", "m3": "z"})]
    lineage = Lineage()
    for parents in [(), (), (0,), (1,)]:
        lineage.add(parents)
    assert plan_merge(cands, lineage, np.array([0.1, 0.1, 0.5, 0.5]), [2, 3], set(), random.Random(0)) is None


def test_plan_merge_only_front_pairs_and_seeded():
    # seed 0; 1..4 children of 0 each changing a different module (4 modules)
    base = Candidate({f"m{i}": f"base {i}" for i in range(4)})
    cands = [base] + [base.with_text(f"m{i}", f"new {i}") for i in range(4)]
    lineage = Lineage()
    lineage.add(())
    for _ in range(4):
        lineage.add((0,))
    means = np.array([0.1, 0.5, 0.5, 0.5, 0.5])
    front = [1, 3, 4]
    seen_pairs = set()
    for seed in range(30):
        plan = plan_merge(cands, lineage, means, front, set(), random.Random(seed))
        assert plan is not None
        assert plan.first in front and plan.second in front and plan.first != plan.second
        seen_pairs.add(plan.triple)
        again = plan_merge(cands, lineage, means, front, set(), random.Random(seed))
        assert again == plan
    assert seen_pairs == {(0, 1, 3), (0, 1, 4), (0, 3, 4)}
    # exhausting the tried set ends the search
    tried = set(seen_pairs)
    assert plan_merge(cands, lineage, means, front, tried, random.Random(0)) is None


# --------------------------------------------------------------------------- merge_subsample


def _buckets(a, b):
    return (
        {i for i in range(len(a)) if a[i] > b[i]},
        {i for i in range(len(a)) if b[i] > a[i]},
        {i for i in range(len(a)) if a[i] == b[i]},
    )


def test_merge_subsample_balanced_sorted_right_size_random():
    for seed in range(300):
        nrng = np.random.default_rng(seed)
        n = int(nrng.integers(1, 30))
        a = nrng.choice([0.0, 0.5, 1.0], size=n)
        b = nrng.choice([0.0, 0.5, 1.0], size=n)
        size = int(nrng.integers(1, 12))
        chosen = merge_subsample(a, b, size, random.Random(seed))
        assert chosen == sorted(chosen)
        assert len(set(chosen)) == len(chosen)
        assert len(chosen) == min(size, n)
        buckets = _buckets(a, b)
        counts = [len(set(chosen) & bk) for bk in buckets]
        assert sum(counts) == len(chosen)
        for i in range(3):
            for j in range(3):
                if counts[i] < len(buckets[i]):  # bucket i not exhausted: no other got 2+ more
                    assert counts[j] <= counts[i] + 1, (seed, counts, [len(x) for x in buckets])


def test_merge_subsample_exact_round_robin():
    a = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1], dtype=float)
    b = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], dtype=float)
    chosen = merge_subsample(a, b, 5, random.Random(0))
    buckets = _buckets(a, b)
    assert [len(set(chosen) & bk) for bk in buckets] == [2, 2, 1]
    chosen = merge_subsample(a, b, 6, random.Random(1))
    assert [len(set(chosen) & bk) for bk in buckets] == [2, 2, 2]


def test_merge_subsample_fills_from_other_buckets():
    a = np.array([1, 0, 0.5, 0.5, 0.5, 0.5, 0.5], dtype=float)
    b = np.array([0, 1, 0.5, 0.5, 0.5, 0.5, 0.5], dtype=float)
    chosen = merge_subsample(a, b, 5, random.Random(0))
    assert len(chosen) == 5
    assert 0 in chosen and 1 in chosen


def test_merge_subsample_size_larger_than_n_returns_everything():
    a = np.array([1.0, 0.0, 0.3])
    b = np.array([0.0, 1.0, 0.3])
    assert merge_subsample(a, b, 10, random.Random(0)) == [0, 1, 2]


def test_merge_subsample_ignores_nan_and_terminates():
    a = np.array([1.0, np.nan, 0.0, np.nan])
    b = np.array([0.0, 0.5, np.nan, np.nan])
    assert merge_subsample(a, b, 4, random.Random(0)) == [0]


def test_merge_subsample_seeded():
    nrng = np.random.default_rng(3)
    a, b = nrng.random(50), nrng.random(50)
    assert merge_subsample(a, b, 7, random.Random(5)) == merge_subsample(a, b, 7, random.Random(5))


# --------------------------------------------------------------------------- Candidate / Lineage


def test_candidate_id_is_stable_content_hash():
    c = Candidate({"b": "second", "a": "first"})
    expected = hashlib.sha256(
        json.dumps({"a": "first", "b": "second"}, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:16]
    assert c.id == expected
    assert c.id == "b851c9c6e6bebc78"  # pinned: ids are persisted in checkpoints and caches
    assert all(ch in "0123456789abcdef" for ch in c.id) and len(c.id) == 16
    assert Candidate({"a": "first", "b": "second"}).id == c.id
    assert Candidate({"a": "first", "b": "second!"}).id != c.id
    assert Candidate({"a": "first"}).id != c.id


def test_candidate_id_does_not_depend_on_insertion_order_random():
    rng = random.Random(0)
    for _ in range(50):
        items = [(f"mod{i}", f"text {rng.random()}") for i in range(rng.randint(1, 8))]
        shuffled = items[:]
        rng.shuffle(shuffled)
        c1, c2 = Candidate(dict(items)), Candidate(dict(shuffled))
        assert c1.id == c2.id and c1 == c2 and hash(c1) == hash(c2)
        assert list(c1) == sorted(dict(items))


def test_candidate_is_an_immutable_mapping():
    source = {"q": "Answer the question.", "r": "Rewrite: {text}"}
    c = Candidate(source)
    source["q"] = "changed"
    assert c["q"] == "Answer the question."
    assert len(c) == 2 and set(c) == {"q", "r"}
    assert c == {"q": "Answer the question.", "r": "Rewrite: {text}"}
    assert c != {"q": "Answer the question."}
    d = c.to_dict()
    d["q"] = "x"
    assert c["q"] == "Answer the question."
    with pytest.raises(TypeError):
        c["q"] = "y"  # type: ignore[index]
    assert len({c, Candidate(dict(c))}) == 1


def test_candidate_unicode_text():
    c = Candidate({"m": "Réponds en français — «oui» ou «non»."})
    assert c.with_text("m", "Réponds en français — «oui» ou «non».").id == c.id


def test_with_text():
    c = Candidate({"a": "one", "b": "two"})
    d = c.with_text("a", "uno")
    assert d.to_dict() == {"a": "uno", "b": "two"}
    assert c.to_dict() == {"a": "one", "b": "two"}
    assert d.id != c.id
    assert c.with_text("a", "one") == c and c.with_text("a", "one").id == c.id
    with pytest.raises(KeyError, match="unknown module 'c'"):
        c.with_text("c", "three")


def test_candidate_errors():
    with pytest.raises(ValueError, match="empty mapping"):
        Candidate({})
    with pytest.raises(TypeError, match="str -> str"):
        Candidate({"a": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        Candidate({"a": None})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        Candidate({1: "text"})  # type: ignore[dict-item]


def test_lineage_ancestors():
    lineage = Lineage()
    for parents in [(), (0,), (0,), (1, 2), (3,), ()]:
        lineage.add(parents)
    assert lineage.ancestors(0) == set()
    assert lineage.ancestors(1) == {0}
    assert lineage.ancestors(3) == {0, 1, 2}
    assert lineage.ancestors(4) == {0, 1, 2, 3}
    assert lineage.ancestors(5) == set()
    assert 4 not in lineage.ancestors(4)
