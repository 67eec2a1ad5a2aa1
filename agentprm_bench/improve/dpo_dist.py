"""The DPO step of ``improve`` under ``torchrun``: one process per GPU (or a share of the CPU).

``launch`` (called by ``updates.dpo_update`` when ``procs > 1``) writes the step's job (the encoded
pairs, their reference log-probs, the settings and the shuffling RNG's state) into ``out_dir``'s
sibling ``<name>.dpo-job``, runs ``python -m torch.distributed.run --standalone --nproc_per_node P
-m agentprm_bench.improve.dpo_dist JOB``, and reads back the losses. Each rank loads the starting
policy on ``cuda:LOCAL_RANK`` (``cpu`` without CUDA: the gloo backend), wraps it in
DistributedDataParallel and runs ``updates.dpo_train`` on its share of every batch; rank 0 saves
the new policy into ``out_dir`` as the one-process path does. The pairs are the same either way,
so the update is the one-process update up to floating-point summation order.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import write_text_atomic

JOB = "job.pt"
RESULT = "result.json"


def launch(policy_dir: Path, out_dir: Path, pairs: Any, settings: Any, rng: random.Random,
           update: dict[str, Any]) -> tuple[list[float], int]:
    """Train the DPO step in ``settings.procs`` processes; -> (loss per step, tokens read)."""
    job_dir = out_dir.with_name(out_dir.name + ".dpo-job")
    shutil.rmtree(job_dir, ignore_errors=True)
    job_dir.mkdir(parents=True)
    chosen, rejected, ref_c, ref_r = pairs
    torch.save({"policy_dir": str(policy_dir), "out_dir": str(out_dir), "chosen": chosen, "rejected": rejected,
                "ref_c": ref_c.cpu(), "ref_r": ref_r.cpu(), "settings": asdict(settings), "rng": rng.getstate(),
                "update": update}, job_dir / JOB)
    threads = max(1, torch.get_num_threads() // settings.procs)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={settings.procs}",
           "-m", "agentprm_bench.improve.dpo_dist", str(job_dir)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (job_dir / RESULT).is_file():
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise UserError(f"the DPO step under torchrun ({settings.procs} processes) failed: {tail}; "
                        f"rerun with --dpo-procs 1 to train in one process")
    result = json.loads((job_dir / RESULT).read_text())
    shutil.rmtree(job_dir, ignore_errors=True)
    return [float(v) for v in result["losses"]], int(result["train_tokens"])


def main(job_dir: str) -> None:
    from agentprm_bench.agents.hf import load_local_model
    from agentprm_bench.improve.updates import UpdateSettings, _save, dpo_train

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    cuda = torch.cuda.is_available()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
    torch.distributed.init_process_group("nccl" if cuda else "gloo")
    try:
        job = torch.load(Path(job_dir) / JOB, weights_only=True)
        settings = UpdateSettings(**job["settings"])
        model, tok, _ = load_local_model(job["policy_dir"], device, None)
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None)
        rng = random.Random()
        rng.setstate(_tuples(job["rng"]))
        pairs = (job["chosen"], job["rejected"], job["ref_c"].to(device), job["ref_r"].to(device))
        losses, tokens = dpo_train(model, pairs, tok.pad_token_id, settings, rng, rank=rank, world=world, ddp=ddp)
        if rank == 0:
            model.eval()
            _save(model, tok, Path(job["policy_dir"]), Path(job["out_dir"]), {**job["update"], "processes": world})
            write_text_atomic(Path(job_dir) / RESULT, json.dumps({"losses": losses, "train_tokens": tokens}) + "\n")
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def _tuples(x: Any) -> Any:
    """``random.Random.getstate()`` after a round trip that may have turned tuples into lists."""
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


if __name__ == "__main__":
    main(sys.argv[1])
