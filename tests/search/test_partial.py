"""A killed beam run resumes from its finished task groups and writes the uninterrupted run's record."""

from __future__ import annotations

from dataclasses import replace

import pytest

import agentprm_bench.search.beam as beam_module
import agentprm_bench.search.run as run_module
from agentprm_bench.errors import UserError
from agentprm_bench.search.partial import PARTIAL_DIR, finished_groups
from agentprm_bench.search.run import RunConfig, run


def _config(out, rm) -> RunConfig:
    return RunConfig(method="agentprm", search="beam", budget=4, expand=2, env="textcraft", tasks=3,
                     policy="random", reward_model=str(rm), out=str(out))


def _same(a, b) -> None:
    assert a.tasks == b.tasks
    assert {k: v for k, v in a.compute.items() if k != "wall_time_s"} == \
        {k: v for k, v in b.compute.items() if k != "wall_time_s"}


def test_a_killed_beam_run_resumes_from_its_finished_groups(tmp_path, bench_home, monkeypatch, untrained_rm):
    monkeypatch.setattr(run_module, "BEAM_NODES", 4)  # @2x2: one task per group, three groups
    whole = run(_config(tmp_path / "whole", untrained_rm), progress=False)
    assert not list((tmp_path / "whole" / PARTIAL_DIR).glob("*"))  # removed with the record written

    real, calls = beam_module.beam_search_many, []

    def killed_after_two(env_id, tids, *args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(list(tids))
        return real(env_id, tids, *args, **kwargs)

    monkeypatch.setattr(beam_module, "beam_search_many", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        run(_config(tmp_path / "r", untrained_rm), progress=False)
    saved, = (tmp_path / "r" / PARTIAL_DIR).glob("beam-*.jsonl")
    assert sorted(finished_groups(saved)) == [0, 1]
    assert not (tmp_path / "r" / "results.jsonl").exists()

    calls.clear()
    monkeypatch.setattr(beam_module, "beam_search_many", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    run(replace(_config(tmp_path / "r", untrained_rm), seed=1), progress=False)
    assert len(calls) == 3  # another run (another seed) does not take this run's groups

    calls.clear()
    resumed = run(_config(tmp_path / "r", untrained_rm), progress=False)
    assert calls == [[whole.tasks[2].task_id]]  # only the group the kill cut
    _same(resumed, whole)
    assert not saved.exists()


def test_a_damaged_partial_file_is_a_one_line_error_naming_it(tmp_path, bench_home, monkeypatch, untrained_rm):
    monkeypatch.setattr(run_module, "BEAM_NODES", 4)
    real, calls = beam_module.beam_search_many, []

    def killed_after_one(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(beam_module, "beam_search_many", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        run(_config(tmp_path, untrained_rm), progress=False)
    saved, = (tmp_path / PARTIAL_DIR).glob("beam-*.jsonl")
    saved.write_text(saved.read_text().replace('"task_ids"', '"tasks"'))
    monkeypatch.setattr(beam_module, "beam_search_many", real)
    with pytest.raises(UserError, match="partial beam group") as err:
        run(_config(tmp_path, untrained_rm), progress=False)
    assert str(saved) in str(err.value) and "\n" not in str(err.value)
