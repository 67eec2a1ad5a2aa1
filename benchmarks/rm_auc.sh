#!/usr/bin/env bash
# Reward-model study on one env: default-policy rollouts -> TD-GAE labels -> ORM, PVM, AgentPRM
# (and the beta = 0 ablation) -> final-step AUC against success on held-out test trajectories.
#
#   bash benchmarks/rm_auc.sh ENV OUT [TRAIN_TASKS] [SAMPLES] [TEST_TASKS] [EXTRA_TRAIN_ARGS...]
#
# Uses the env's default small policy (train it first with `agentprm-bench train-policy`).
set -euo pipefail
env=$1 out=$2 train_tasks=${3:-100} samples=${4:-8} test_tasks=${5:-150}
shift $(( $# < 5 ? $# : 5 ))
cli=(python3 -m agentprm_bench.cli)
mkdir -p "$out"
"${cli[@]}" collect --env "$env" --policy hf --split train --tasks "$train_tasks" --samples "$samples" \
    --batch-size 64 --out "$out/train" --no-progress
"${cli[@]}" collect --env "$env" --policy hf --split test --tasks "$test_tasks" --samples 1 \
    --batch-size 64 --out "$out/test" --no-progress
"${cli[@]}" label --method td-gae --n-td "$samples" --trajectories "$out/train" --out "$out/td"
for rm in orm pvm agentprm; do
    "${cli[@]}" train --rm "$rm" --labels "$out/td" --out "$out/rm-$rm" --no-progress "$@"
done
"${cli[@]}" train --rm agentprm --beta 0 --labels "$out/td" --out "$out/rm-agentprm-beta0" --no-progress "$@"
"${cli[@]}" eval-rm --trajectories "$out/test" --rm "$out/rm-orm" --rm "$out/rm-pvm" --rm "$out/rm-agentprm" \
    --rm "$out/rm-agentprm-beta0"
