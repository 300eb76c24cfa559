"""Epoch-shuffled minibatch sampler."""

from __future__ import annotations

import json
import random

import pytest

from gepetto.core.sampling import EpochShuffledSampler


def draw(sampler: EpochShuffledSampler, rng: random.Random, k: int) -> list[list[int]]:
    return [sampler.next_batch(rng) for _ in range(k)]


@pytest.mark.parametrize("n,b", [(12, 3), (10, 5), (8, 8), (6, 1), (20, 4)])
def test_each_epoch_covers_every_index_once_when_n_is_a_multiple(n, b):
    sampler = EpochShuffledSampler(n, b)
    rng = random.Random(42)
    per_epoch = n // b
    for epoch in range(1, 6):
        batches = draw(sampler, rng, per_epoch)
        flat = [i for batch in batches for i in batch]
        assert sorted(flat) == list(range(n)), (epoch, batches)
        assert all(len(batch) == b for batch in batches)
        assert sampler.epoch == epoch


def test_epochs_are_shuffled_differently():
    sampler = EpochShuffledSampler(30, 30)
    rng = random.Random(1)
    first, second = sampler.next_batch(rng), sampler.next_batch(rng)
    assert sorted(first) == sorted(second) == list(range(30))
    assert first != second
    assert first != list(range(30))


@pytest.mark.parametrize(
    "n,b",
    [(10, 3), (7, 4), (5, 2), (11, 10), (9, 8), (3, 2), (13, 5), (2, 3), (1, 4), (4, 7), (1, 1)],
)
def test_batches_distinct_right_size_and_stream_is_epochwise(n, b):
    for seed in range(20):
        sampler = EpochShuffledSampler(n, b)
        rng = random.Random(seed)
        size = min(n, b)
        stream: list[int] = []
        for _ in range(40):
            batch = sampler.next_batch(rng)
            assert len(batch) == size, (seed, batch)
            assert len(set(batch)) == size, (seed, batch)
            assert all(0 <= i < n for i in batch)
            stream.extend(batch)
        # concatenated batches: every consecutive chunk of n indices is one epoch
        for start in range(0, len(stream) - n + 1, n):
            assert sorted(stream[start : start + n]) == list(range(n)), (seed, start, stream)


@pytest.mark.parametrize("n,b", [(3, 5), (1, 4), (4, 100)])
def test_fewer_examples_than_batch_size_gives_all_examples(n, b):
    sampler = EpochShuffledSampler(n, b)
    rng = random.Random(0)
    for _ in range(10):
        assert sorted(sampler.next_batch(rng)) == list(range(n))


def test_same_seed_same_sequence_and_different_seed_differs():
    a = draw(EpochShuffledSampler(17, 4), random.Random(123), 30)
    b = draw(EpochShuffledSampler(17, 4), random.Random(123), 30)
    c = draw(EpochShuffledSampler(17, 4), random.Random(124), 30)
    assert a == b
    assert a != c


@pytest.mark.parametrize("n,b,k", [(10, 3, 4), (12, 4, 3), (7, 7, 2), (5, 8, 3), (11, 5, 0)])
def test_state_restore_resumes_identical_sequence(n, b, k):
    rng = random.Random(9)
    original = EpochShuffledSampler(n, b)
    draw(original, rng, k)
    state = original.state()
    rng_state = rng.getstate()
    expected = draw(original, rng, 25)
    expected_epoch = original.epoch

    # state survives a JSON round trip (checkpoints are JSON)
    state = json.loads(json.dumps(state))
    resumed = EpochShuffledSampler(n, b)
    resumed.restore(state)
    rng2 = random.Random()
    rng2.setstate(rng_state)
    assert draw(resumed, rng2, 25) == expected
    assert resumed.epoch == expected_epoch


def test_state_is_a_snapshot():
    rng = random.Random(0)
    sampler = EpochShuffledSampler(10, 3)
    sampler.next_batch(rng)
    state = sampler.state()
    queue_before = list(state["queue"])
    sampler.next_batch(rng)
    assert state["queue"] == queue_before  # not aliased to the live queue
    assert len(queue_before) == 7 and state["epoch"] == 1
    other = EpochShuffledSampler(10, 3)
    other.restore(state)
    state["queue"].clear()
    rng2 = random.Random(5)
    assert len(other.next_batch(rng2)) == 3
    assert other.state()["queue"] == queue_before[3:]


def test_invalid_sizes_raise():
    with pytest.raises(ValueError, match="training set is empty"):
        EpochShuffledSampler(0, 3)
    with pytest.raises(ValueError, match="minibatch_size"):
        EpochShuffledSampler(5, 0)


# ------------------------------------------------------------------ minibatch focus
def test_a_focus_example_leads_the_batch_and_the_rest_follow_the_epoch():
    rng = random.Random(3)
    sampler = EpochShuffledSampler(10, 3)
    batch = sampler.next_batch(rng, focus=[7])
    assert batch[0] == 7 and len(set(batch)) == 3
    plain = EpochShuffledSampler(10, 3)
    # the two other slots are the first two of the same epoch order (the lead is skipped there)
    expected = [i for i in plain.next_batch(random.Random(3)) + plain.next_batch(random.Random(3)) if i != 7]
    assert batch[1:] == expected[:2]


def test_repeated_failures_rotate_least_used_first():
    rng = random.Random(0)
    sampler = EpochShuffledSampler(20, 3)
    leads = [sampler.next_batch(rng, focus=[2, 9, 15])[0] for _ in range(9)]
    # every focus example leads once before any leads twice, and so on
    assert sorted(leads[:3]) == sorted(leads[3:6]) == sorted(leads[6:]) == [2, 9, 15]


def test_focus_never_duplicates_or_stalls_at_an_epoch_boundary():
    rng = random.Random(5)
    sampler = EpochShuffledSampler(4, 3)
    for _ in range(40):
        batch = sampler.next_batch(rng, focus=[1])
        assert batch[0] == 1 and len(set(batch)) == 3 and set(batch) <= set(range(4))


def test_no_focus_with_a_single_example_batch():
    # a batch of one is the epoch's next example: focusing it would never show another
    sampler, plain = EpochShuffledSampler(6, 1), EpochShuffledSampler(6, 1)
    assert [sampler.next_batch(random.Random(1), focus=[4]) for _ in range(3)] == [
        plain.next_batch(random.Random(1)) for _ in range(3)
    ]


def test_focus_counts_survive_state_and_restore():
    rng = random.Random(8)
    original = EpochShuffledSampler(12, 3)
    for _ in range(4):
        original.next_batch(rng, focus=[0, 1])
    copy = EpochShuffledSampler(12, 3)
    copy.restore(json.loads(json.dumps(original.state())))
    a, b = random.Random(9), random.Random(9)
    assert [original.next_batch(a, focus=[0, 1, 2]) for _ in range(5)] == [copy.next_batch(b, focus=[0, 1, 2]) for _ in range(5)]
