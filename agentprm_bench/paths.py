"""Where locally built artefacts live: $AGENTPRM_BENCH_HOME, else ~/.cache/agentprm-bench."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("AGENTPRM_BENCH_HOME", "~/.cache/agentprm-bench")).expanduser()


def default_policy_dir(env_short_name: str) -> Path:
    return home() / "policies" / env_short_name


def model_fingerprint(model_dir: str | Path) -> str:
    """A short id of the weights in a local model directory (file names, sizes and modification
    times), so caches built from a model are not reused after it is retrained in place."""
    path = Path(model_dir).expanduser()
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")) + sorted(path.glob("agentprm_policy.json"))
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha1(repr(stats).encode()).hexdigest()[:12]
