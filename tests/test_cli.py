"""CLI smoke tests: the commands run, print what they promise and fail with one-line errors."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from agentprm_bench.cli import main


def run(argv, monkeypatch=None, typed=()):
    out = io.StringIO()
    if monkeypatch is not None:
        answers = iter(typed)

        def fake_input(prompt=""):
            try:
                return next(answers)
            except StopIteration:
                raise EOFError

        monkeypatch.setattr("builtins.input", fake_input)
    code = main(argv, out=out)
    return code, out.getvalue()


def test_envs_lists_every_env_with_counts():
    code, text = run(["envs"])
    assert code == 0
    assert "agentprm/WebShop-v1    6910   5410   500   6" in text
    assert "agentprm/BabyAI-v1     4000   3910   90    20" in text
    assert "agentprm/TextCraft-v1  544    344    200   20" in text
    assert text.splitlines()[0].endswith("--env")
    assert all(line.endswith(short) for line, short in zip(text.splitlines()[2:], ("webshop", "babyai", "textcraft")))


def test_play_by_number_and_text_until_the_episode_ends(monkeypatch):
    from agentprm_bench.envs.textcraft import task_items

    task = task_items().index("minecraft:crafting_table")
    typed = ["get 1 oak logs", "craft 4 oak planks using 1 oak logs", "craft 1 crafting table using 4 oak planks"]
    code, text = run(["play", "textcraft", "--task-id", str(task)], monkeypatch, typed)
    assert code == 0
    assert "Admissible actions:\n  1. " in text and "> get 1 oak logs\nGot 1 oak logs" in text
    assert "Episode ended (won) after 3 turns; total reward 1.000." in text


def test_play_accepts_the_number_of_an_admissible_action_and_quit(monkeypatch):
    code, text = run(["play", "webshop", "--task-id", "0"], monkeypatch, ["1", "quit"])
    assert code == 0 and "> search[" in text and "Page 1 (Total results: 50)" in text and text.endswith("Stopped.\n")


def test_play_reprompts_on_a_number_that_is_not_offered(monkeypatch):
    code, text = run(["play", "textcraft", "--task-id", "0"], monkeypatch, ["999", "0", "quit"])
    assert code == 0 and "999 is not one of the numbers above" in text and "0 is not one of the numbers above" in text
    assert "\n> " not in text  # nothing was sent to the env: no turn spent


def test_play_stops_cleanly_at_end_of_input(monkeypatch):
    code, text = run(["play", "babyai", "--task-id", "2"], monkeypatch, [])
    assert code == 0 and "Your goal: " in text and text.endswith("Stopped.\n")


def test_check_reports_oracle_and_random(monkeypatch):
    code, text = run(["check", "--env", "textcraft", "--tasks", "10", "--no-progress"])
    assert code == 0
    lines = [l.split() for l in text.splitlines()[1:]]
    assert [l[1] for l in lines] == ["oracle", "random"]
    from agentprm_bench.envs.textcraft import plan_commands
    from agentprm_bench.envs.textcraft_recipes import adapt_test_goals, load_rules

    fits = sum(len(plan_commands(load_rules(), g, {})) <= 20 for g in adapt_test_goals()[:10])
    assert float(lines[0][3]) == fits / 10 and int(lines[0][2]) == 10 and fits >= 5


@pytest.mark.parametrize("argv,message", [
    (["play", "webshopp"], "unknown environment 'webshopp'. Did you mean 'webshop'?"),
    (["play", "babyai", "--task-id", "999999"], "task_id 999999 out of range"),
    (["run", "--env", "babyai", "--tasks", "100000"], "--tasks 100000 is more than the 90 tasks of agentprm/BabyAI-v1's test split"),
    (["collect", "--env", "textcraft", "--policy", "oracle", "--split", "test", "--tasks", "201", "--out", "/tmp/never-written"],
     "--tasks 201 is more than the 200 tasks"),
])
def test_bad_input_gives_a_one_line_error(capsys, argv, message, tmp_path):
    argv = [str(tmp_path / "out") if a == "/tmp/never-written" else a for a in argv]
    code, _ = run(argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("argv,argument", [
    (["play", "babyai", "--max-turns", "-1"], "--max-turns"),
    (["collect", "--env", "textcraft", "--policy", "noisy-oracle", "--p", "2", "--out", "X"], "--p"),
    (["sweep", "--budgets", "a"], "--budgets"),
    (["sweep", "--budgets", "1,0"], "--budgets"),
    (["label", "--method", "td-gae", "--trajectories", "x.jsonl", "--out", "X", "--n-td", "0"], "--n-td"),
    (["run", "--env", "babyai", "--tasks", "-1"], "--tasks"),
    (["collect", "--env", "textcraft", "--policy", "oracle", "--samples", "0", "--out", "X"], "--samples"),
    (["run", "--env", "babyai", "--budget", "0"], "--budget"),
    (["run", "--env", "babyai", "--temperature", "nan"], "--temperature"),
    (["train", "--rm", "orm", "--labels", "x.jsonl", "--out", "X", "--lr", "0"], "--lr"),
    (["play", "babyai", "--task-id", "-3"], "--task-id"),
])
def test_numbers_are_checked_when_the_command_line_is_parsed(capsys, argv, argument, tmp_path):
    argv = [str(tmp_path / "out") if a == "X" else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        run(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument {argument}: expected" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["a file", "inside a file"])
def test_an_unusable_out_is_a_one_line_error(capsys, tmp_path, kind):
    (tmp_path / "f").write_text("x")
    target = tmp_path / "f" if kind == "a file" else tmp_path / "f" / "sub"  # (root may write anywhere else)
    for argv in (["collect", "--env", "textcraft", "--policy", "random", "--tasks", "1", "--samples", "1",
                  "--out", str(target)],
                 ["run", "--env", "textcraft", "--method", "none", "--policy", "random", "--tasks", "1",
                  "--budget", "1", "--out", str(target)]):
        code, _ = run(argv)
        err = capsys.readouterr().err
        assert code == 2 and "--out" in err and err.count("\n") == 1, err


def test_a_large_run_asks_first_in_interactive_use(capsys, monkeypatch, tmp_path):
    from agentprm_bench.agents import collect as collect_module

    monkeypatch.setattr(collect_module, "LARGE_TRAJECTORIES", 10)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    argv = ["run", "--env", "textcraft", "--method", "none", "--policy", "random", "--tasks", "4", "--budget", "4",
            "--out", str(tmp_path), "--no-progress"]
    code, _ = run(argv)
    assert code == 2 and "pass --yes" in capsys.readouterr().err and "up to 16 trajectories" in asked[0]
    assert not (tmp_path / "results.jsonl").exists()
    code, _ = run(argv + ["--yes"])
    assert code == 0 and len(asked) == 1 and (tmp_path / "results.jsonl").exists()
    code, _ = run(["collect", "--env", "textcraft", "--policy", "random", "--tasks", "3", "--samples", "3",
                   "--out", str(tmp_path / "c"), "--no-progress"])  # 9: under the threshold, no question
    assert code == 0 and len(asked) == 1


def test_env_ids_resolve_only_against_registered_envs():
    from agentprm_bench.envs import make_env
    from agentprm_bench.errors import UserError

    with pytest.raises(UserError, match="unknown environment"):
        make_env("this:Zen-v0")  # gym.make would import the module `this`
    assert make_env("textcraft").spec.id == "agentprm/TextCraft-v1"


def test_console_script_is_installed():
    proc = subprocess.run([sys.executable, "-m", "agentprm_bench.cli", "envs"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "agentprm/TextCraft-v1" in proc.stdout and proc.stderr == ""


def test_progress_without_a_terminal_is_plain_lines(capsys, tmp_path):
    code, _ = run(["collect", "--env", "textcraft", "--policy", "random", "--split", "test", "--tasks", "20",
                   "--samples", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 0 and "\r" not in err and any("40/40" in line and "traj" in line for line in lines)


def test_plain_bars_print_periodically_not_per_postfix():
    from agentprm_bench.progress import bar

    stream = io.StringIO()
    with bar(total=200, file=stream, desc="train") as b:
        for i in range(200):
            b.set_postfix(loss=1.0 / (i + 1))
            b.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) <= 3 and "200/200" in lines[-1]  # the first line, maybe one at 30 s, the last


def test_log_records_go_through_the_bar_writer():
    import logging

    from agentprm_bench.progress import TqdmLogHandler, bar

    stream = io.StringIO()
    handler = TqdmLogHandler(stream)
    log = logging.getLogger("agentprm_bench.test_progress")
    log.addHandler(handler)
    try:
        with bar(total=3, file=stream, desc="work") as b:
            b.update(1)
            log.warning("a message")
            b.update(2)
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert "a message" in lines  # a line of its own, not glued to a bar line


def test_every_option_a_message_names_exists():
    """A `--flag` written anywhere in the package's text is an option of some command."""
    import argparse
    import re
    from pathlib import Path

    from agentprm_bench.cli import build_parser

    options: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            options.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    package = Path(__file__).resolve().parents[1] / "agentprm_bench"
    named = {m.group(): f.name for f in package.rglob("*.py") if f.name != "provenance.py"  # git's own flags
             for m in re.finditer(r"--[a-z][a-z0-9-]*[a-z0-9]", f.read_text())}
    vllm_serve = {"--logits-processors", "--port", "--dtype", "--gpu-memory-utilization", "--enable-chunked-prefill",
                  "--no-enable-chunked-prefill", "--max-num-batched-tokens"}  # vLLM's own options
    torchrun = {"--standalone", "--nproc"}  # torch.distributed.run's (--nproc_per_node)
    assert not {k: v for k, v in named.items() if k not in options | vllm_serve | torchrun}


def test_threads_option_sets_torch_threads(tmp_path):
    import torch

    code, _ = run(["collect", "--env", "textcraft", "--policy", "random", "--tasks", "1", "--samples", "1",
                   "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    assert code == 0 and torch.get_num_threads() == 1  # tests/conftest.py restores the count after the test
