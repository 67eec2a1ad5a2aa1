#!/usr/bin/env bash
# The embedded default reward models of one env, judged on held-out test trajectories: builds (or
# finds, cached) the default policy and the reward models of METHODS, samples one trajectory per test
# task with the default policy, then prints each model's final-step AUC against success.
#
#   bash benchmarks/default_rm_auc.sh ENV OUT [TEST_TASKS] [METHODS]
#
# METHODS is comma-separated (default agentprm,agentprm-beta0,pvm,orm). The build prints each
# stage's wall time; a killed run resumes where it stopped.
set -euo pipefail
env=$1 out=$2 test_tasks=${3:-200} methods=${4:-agentprm,agentprm-beta0,pvm,orm}
cli=(python3 -m agentprm_bench.cli)
mkdir -p "$out"
"${cli[@]}" build-defaults --envs "$env" --methods "$methods" --no-progress | tee "$out/build.txt"
"${cli[@]}" collect --env "$env" --policy hf --split test --tasks "$test_tasks" --samples 1 \
    --out "$out/test" --no-progress
rms=()
for dir in $(awk '$2 == "rm" {print $NF}' "$out/build.txt"); do rms+=(--rm "$dir"); done
"${cli[@]}" eval-rm --trajectories "$out/test" "${rms[@]}" | tee "$out/auc.txt"
