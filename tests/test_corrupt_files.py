"""Fuzz: every kind of file the project writes, damaged every way, read by the command that reads it.

Each case must end in a one-line error (exit 2, no traceback), or, where the damage is one a
kill can cause and the reader is built to repair (the cut last line of an append-only file
that a resumed ``collect`` drops), in a normal run. Counted in the test's own assertion.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from agentprm_bench.cli import main
from agentprm_bench.schema import file_digest

CORRUPTIONS = ("truncate", "flip", "empty", "shape", "types", "garbage")


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        mid = len(data) // 2
        path.write_bytes(data[:mid] + b"\xff\xfe\x00\x9c" + data[mid + 4:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"not a file of ours \x00\x01\x02\n" * 4)
    elif how == "shape":  # valid JSON, not the expected object (each line of a JSONL file)
        lines = data.decode().splitlines() or [""]
        path.write_text("\n".join("[1, 2, 3]" for _ in lines) + "\n")
    elif how == "types":  # valid JSON objects, one number turned into a string (and a list into a number)
        text = data.decode()
        if path.suffix == ".jsonl":
            path.write_text("".join(json.dumps(_mistype(json.loads(x))) + "\n" for x in text.splitlines() if x.strip()))
        else:
            path.write_text(json.dumps(_mistype(json.loads(text))))


def _mistype(obj):
    """The first int/float value (depth first) becomes "big", the first list becomes 7."""
    done = {"num": False, "list": False}

    def walk(x):
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            if not done["list"] and x and all(isinstance(v, (int, float, str)) for v in x):
                done["list"] = True
                return 7
            return [walk(v) for v in x]
        if isinstance(x, (int, float)) and not isinstance(x, bool) and not done["num"]:
            done["num"] = True
            return "big"
        return x

    return walk(obj)


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_model_dir):
    """One of each file, made by the project's own commands."""
    root = tmp_path_factory.mktemp("made")
    ok = lambda *argv: _cli(list(argv))[0] == 0  # noqa: E731
    assert ok("collect", "--env", "textcraft", "--policy", "noisy-oracle", "--p", "0.5", "--split", "test",
              "--tasks", "4", "--samples", "2", "--max-turns", "4", "--out", str(root / "col"), "--no-progress")
    assert ok("label", "--method", "td-gae", "--trajectories", str(root / "col"), "--out", str(root / "lab"),
              "--no-progress")
    assert ok("train", "--rm", "orm", "--labels", str(root / "lab" / "labels.jsonl"), "--backbone",
              str(tiny_model_dir), "--out", str(root / "rm"), "--iterations", "1", "--epochs", "1", "--no-progress")
    assert ok("run", "--method", "none", "--env", "textcraft", "--policy", "random", "--tasks", "2", "--budget", "2",
              "--out", str(root / "res"), "--no-progress")
    shutil.copytree(tiny_model_dir, root / "pol")
    (root / "pol" / "agentprm_policy.json").write_text(json.dumps(  # as train-policy writes it
        {"config": {"env": "agentprm/TextCraft-v1"}, "weights_sha256": file_digest(root / "pol" / "model.safetensors"),
         "prompt": {"max_prompt_chars": 1600, "max_obs_chars": 1200, "decoding": "free"}}))
    return root


def _cli(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import sys

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv, out=io.StringIO())
        except SystemExit as exc:  # argparse
            code = exc.code
    sys.stderr.flush()
    return code, err.getvalue()


# (file, the command that reads it); "{d}" is a fresh copy of the made tree
READERS = {
    "col/trajectories.jsonl": ["label", "--method", "td-gae", "--trajectories", "{d}/col", "--out", "{d}/lab2"],
    "col/config.json": ["collect", "--env", "textcraft", "--policy", "noisy-oracle", "--p", "0.5", "--split", "test",
                        "--tasks", "4", "--samples", "2", "--max-turns", "4", "--out", "{d}/col"],
    "lab/labels.jsonl": ["train", "--rm", "orm", "--labels", "{d}/lab/labels.jsonl", "--backbone", "{d}/pol",
                         "--out", "{d}/rm2", "--iterations", "1", "--epochs", "1"],
    "lab/label_config.json": ["train", "--rm", "orm", "--labels", "{d}/lab/labels.jsonl", "--backbone", "{d}/pol",
                              "--out", "{d}/rm2", "--iterations", "1", "--epochs", "1"],
    "rm/reward_model.json": ["eval-rm", "--rm", "{d}/rm", "--trajectories", "{d}/col"],
    "rm/config.json": ["eval-rm", "--rm", "{d}/rm", "--trajectories", "{d}/col"],
    "rm/model.safetensors": ["eval-rm", "--rm", "{d}/rm", "--trajectories", "{d}/col"],
    "rm/trainer_state.json": ["train", "--rm", "orm", "--labels", "{d}/lab/labels.jsonl", "--backbone", "{d}/pol",
                              "--out", "{d}/rm", "--iterations", "1", "--epochs", "1"],
    "rm/optimizer.pt": ["train", "--rm", "orm", "--labels", "{d}/lab/labels.jsonl", "--backbone", "{d}/pol",
                        "--out", "{d}/rm", "--iterations", "2", "--epochs", "1"],
    "res/results.jsonl": ["leaderboard", "{d}/res"],
    "pol/config.json": ["collect", "--env", "textcraft", "--policy", "hf", "--model", "{d}/pol", "--tasks", "1",
                        "--samples", "1", "--max-turns", "1", "--out", "{d}/col3"],
    "pol/model.safetensors": ["collect", "--env", "textcraft", "--policy", "hf", "--model", "{d}/pol", "--tasks", "1",
                              "--samples", "1", "--max-turns", "1", "--out", "{d}/col3"],
    "pol/agentprm_policy.json": ["collect", "--env", "textcraft", "--policy", "hf", "--model", "{d}/pol", "--tasks",
                                 "1", "--samples", "1", "--max-turns", "1", "--out", "{d}/col3"],
}
BINARY = {"rm/model.safetensors", "rm/optimizer.pt", "pol/model.safetensors"}
# damage a kill can cause and a resumed collect repairs: the cut last line of the append-only file
REPAIRED = {("col/trajectories.jsonl", "truncate")}


def test_every_damaged_file_gives_a_one_line_error(made, tmp_path):
    outcomes = {}
    for name, argv in READERS.items():
        for how in CORRUPTIONS:
            if name in BINARY and how in ("shape", "types"):
                continue
            d = tmp_path / f"{name.replace('/', '_')}-{how}"
            shutil.copytree(made, d)
            if name == "rm/optimizer.pt":  # make the checkpoint unfinished, so resuming reads the optimizer
                state = json.loads((d / "rm" / "trainer_state.json").read_text())
                meta = json.loads((d / "rm" / "reward_model.json").read_text())
                (d / "rm" / "trainer_state.json").write_text(json.dumps({**state, "iteration": 0, "epoch": 0}))
                meta["train_config"]["iterations"] = 2
                (d / "rm" / "reward_model.json").write_text(json.dumps(meta))
            corrupt(d / name, how)
            quiet = ["--no-progress"] if argv[0] in ("collect", "label", "train", "run") else []
            code, err = _cli([a.replace("{d}", str(d)) for a in argv] + quiet)
            outcomes[(name, how)] = (code, err)
    tracebacks = {k: v for k, v in outcomes.items() if "Traceback" in v[1]}
    assert not tracebacks, tracebacks
    bad = {k: v for k, v in outcomes.items()
           if not (v[0] == 2 and v[1].count("\n") == 1 and v[1].startswith("agentprm-bench: error: "))
           and not (k in REPAIRED and v[0] == 0)}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
    assert len(outcomes) >= 70


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _edit_jsonl(path: Path, change) -> None:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    change(rows[0])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# the damaged files the reliability issue listed, each as it named it
NAMED = {
    "results compute not a dict": ("res/results.jsonl", lambda r: r.update(compute=[1, 2])),
    "results ci_low a string": ("res/results.jsonl", lambda r: r.update(ci_low="low")),
    "trajectory reward a string": ("col/trajectories.jsonl", lambda t: t["steps"][0].update(reward="0.5")),
    "trajectory with empty steps": ("col/trajectories.jsonl", lambda t: t.update(steps=[])),
    "rm config hidden_size big": ("rm/config.json", lambda c: c.update(hidden_size="big")),
    "policy config hidden_size big": ("pol/config.json", lambda c: c.update(hidden_size="big")),
    "reward_model.json max_len a string": ("rm/reward_model.json", lambda m: m.update(max_len="long")),
    "trainer_state.json garbage step": ("rm/trainer_state.json", lambda s: s.update(step="x")),
    "label_config.json without its config": ("lab/label_config.json", lambda m: m.pop("config")),
}


@pytest.mark.parametrize("case", sorted(NAMED))
def test_the_named_damages_give_one_line_errors(made, tmp_path, case):
    name, change = NAMED[case]
    d = tmp_path / "d"
    shutil.copytree(made, d)
    (_edit_jsonl if name.endswith(".jsonl") else _edit_json)(d / name, change)
    argv = [a.replace("{d}", str(d)) for a in READERS[name]]
    code, err = _cli(argv + (["--no-progress"] if argv[0] in ("collect", "label", "train", "run") else []))
    assert code == 2 and err.count("\n") == 1 and err.startswith("agentprm-bench: error: "), (case, err)


def test_a_missing_label_config_is_refused(made, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(made, d)
    (d / "lab" / "label_config.json").unlink()
    code, err = _cli([a.replace("{d}", str(d)) for a in READERS["lab/label_config.json"]] + ["--no-progress"])
    assert code == 2 and "label_config.json: no such file" in err and err.count("\n") == 1
