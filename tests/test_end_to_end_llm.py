"""A real optimization on the real embedded LLM: the whole stack, no fakes.

Small on purpose (0.5B model, a few validation examples, a small budget) so it finishes
in a few minutes on 2 cores; it checks that real model output flows through every layer,
not that the score improves (that is the benchmarks' job).
"""

from __future__ import annotations

import pytest

import gepetto
from gepetto.lm import ResponseCache, UsageTracker, make_lm
from gepetto.lm.embedded import EmbeddedServer
from gepetto.systems.adapter import mean_score
from gepetto.tasks.banking import banking_task

pytestmark = [pytest.mark.llm, pytest.mark.timeout(900)]


def test_gepa_runs_end_to_end_on_the_embedded_model(embedded_assets, tmp_path) -> None:
    binary, model = embedded_assets
    task = banking_task(n_train=12, n_val=6, n_test=10)
    cache = ResponseCache(tmp_path / "lm_cache.sqlite")
    with EmbeddedServer(model, binary=binary, n_ctx=8192, parallel=4, model_name="qwen2.5-coder-0.5b") as server:
        tracker = UsageTracker()
        task_lm = make_lm(base_url=server.base_url, model=server.model, role="task", tracker=tracker, cache=cache)
        reflection_lm = make_lm(base_url=server.base_url, model=server.model, role="reflection", tracker=tracker, cache=cache, cache_sampled=True)
        system = task.make_system(task_lm)
        config = gepetto.Config(max_rollouts=36, minibatch_size=3, reflection=gepetto.ReflectionConfig(max_tokens=200, max_resamples=1))
        result = gepetto.optimize(system, task.train, task.val, reflection_lm=reflection_lm, config=config, usage=tracker)
        test_score = mean_score(system, result.best_candidate, task.test)

        # the run spent real rollouts within budget and made real model calls
        assert 6 < result.rollouts_used <= 36
        assert result.lm_usage["task"]["calls"] > 0 and result.lm_usage["task"]["completion_tokens"] > 0
        assert result.lm_usage["reflection"]["calls"] >= 1
        assert result.proposals, "at least one reflection happened"
        # the 0.5B model answers the seed instruction with real labels on some examples
        assert any(r.output for r in system.evaluate(result.candidates[0].candidate, task.val))
        assert 0.0 <= test_score <= 1.0

        # a second identical run is served entirely from the cache: zero model calls
        tracker2 = UsageTracker()
        task_lm2 = make_lm(base_url=server.base_url, model=server.model, role="task", tracker=tracker2, cache=cache)
        reflection_lm2 = make_lm(base_url=server.base_url, model=server.model, role="reflection", tracker=tracker2, cache=cache, cache_sampled=True)
        again = gepetto.optimize(task.make_system(task_lm2), task.train, task.val, reflection_lm=reflection_lm2, config=config, usage=tracker2)
        # NaN marks the unscored cells of parked candidates (and NaN != NaN)
        same = lambda rows: [[None if v != v else v for v in row] for row in rows]  # noqa: E731
        assert same(again.val_scores) == same(result.val_scores)
        assert [p.status for p in again.proposals] == [p.status for p in result.proposals]
        assert tracker2.roles["task"].calls == 0 and tracker2.roles["reflection"].calls == 0
