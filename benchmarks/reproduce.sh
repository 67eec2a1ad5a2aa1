#!/usr/bin/env bash
# The CPU reproduction committed in results/: default models, search sweeps, tables, figures.
#
#   bash benchmarks/reproduce.sh [OUT] [ENVS] [BON_TASKS] [BEAM_TASKS]
#
# Builds whatever default model is missing (cached in $AGENTPRM_BENCH_HOME), then:
#   Best-of-N, budgets 1..32, on the first BON_TASKS test tasks: every method;
#   beam search @1x4, @4x4, @8x4 on the first BEAM_TASKS test tasks: AgentPRM, PVM, ORM, MC-PRM;
# and writes the leaderboard, the scaling figures and the efficiency table. The reward models'
# held-out AUCs come from benchmarks/default_rm_auc.sh.
# One process per core is fastest on a small CPU: OMP_NUM_THREADS=1 and two sweeps at once.
set -euo pipefail
out=${1:-runs/repro} envs=${2:-textcraft,babyai,webshop} bon_tasks=${3:-30} beam_tasks=${4:-20}
cli=(python3 -m agentprm_bench.cli)
"${cli[@]}" sweep --envs "$envs" --methods none,greedy,oracle-select,agentprm,agentprm-beta0,pvm,orm,mc-prm,inverse-prm \
    --searches bon --budgets 1,2,4,8,16,32 --tasks "$bon_tasks" --out "$out" --no-progress
"${cli[@]}" sweep --envs "$envs" --methods agentprm,pvm,orm,mc-prm --searches beam --budgets 4,16,32 \
    --tasks "$beam_tasks" --out "$out" --no-progress
# plain sampling and the pass@N ceiling on the beam tasks (from the same pools: no new samples)
"${cli[@]}" sweep --envs "$envs" --methods none,oracle-select --searches bon --budgets 1,2,4,8,16,32 \
    --tasks "$beam_tasks" --out "$out" --no-progress
"${cli[@]}" leaderboard "$out" --out results/leaderboard
"${cli[@]}" plot "$out" --out results/figures
