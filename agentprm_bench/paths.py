"""Where locally built artefacts live: $AGENTPRM_BENCH_HOME, else ~/.cache/agentprm-bench."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("AGENTPRM_BENCH_HOME", "~/.cache/agentprm-bench")).expanduser()


def default_policy_dir(env_short_name: str) -> Path:
    return home() / "policies" / env_short_name
