"""Result files: a directory's results.jsonl, or every one below it; the latest record per run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import append_records
from agentprm_bench.search.results import RESULTS, latest_results, result_files
from tests.report.test_paired import record


def write(path: Path, *records) -> None:
    path.mkdir(parents=True, exist_ok=True)
    append_records(path / RESULTS, [r.to_json() for r in records])


def test_directory_without_its_own_file_reads_every_file_below(tmp_path):
    write(tmp_path / "textcraft" / "seed0", record("agentprm", [1, 0]))
    write(tmp_path / "textcraft" / "seed1", record("agentprm", [1, 1], seed=1))
    write(tmp_path / "babyai" / "seed0", record("orm", [0, 0]))
    assert [p.relative_to(tmp_path).parts[:2] for p in result_files([tmp_path])] == \
        [("babyai", "seed0"), ("textcraft", "seed0"), ("textcraft", "seed1")]
    assert sorted((r.method, r.seed) for r in latest_results([tmp_path])) == [("agentprm", 0), ("agentprm", 1),
                                                                               ("orm", 0)]
    write(tmp_path, record("pvm", [1, 1]))  # a directory with its own file: that file only
    assert [r.method for r in latest_results([tmp_path])] == ["pvm"]


def test_a_rerun_supersedes_and_a_missing_path_is_an_error(tmp_path):
    old = record("agentprm", [0, 0])
    new = replace(record("agentprm", [1, 1]), timestamp="later")
    write(tmp_path / "a", old)
    write(tmp_path / "b", new)
    (only,) = latest_results([tmp_path / "a", tmp_path / "b"])
    assert only.value == 1.0
    with pytest.raises(UserError, match="no such file"):
        latest_results([tmp_path / "nowhere.jsonl"])


def test_a_directory_with_no_records_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no result records found"):
        latest_results([tmp_path / "empty"])
