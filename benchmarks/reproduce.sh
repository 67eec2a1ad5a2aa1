#!/usr/bin/env bash
# The search reproduction at the paper's test sizes on the v1 envs, several seeds.
#
#   bash benchmarks/reproduce.sh [OUT] [ENVS] [SEEDS] [PARTS]
#
#   OUT    where the records go, one directory per (env, seed): OUT/ENV/seedK/results.jsonl
#          (default runs/repro-v1; the committed copy is results/search)
#   ENVS   comma-separated (default textcraft,babyai,webshop)
#   SEEDS  comma-separated (default 0,1,2): each seed its own sample pool and its own training seed
#          of every default reward model (seed 0: the default models; k > 0: rm-METHOD-seedK)
#   PARTS  comma-separated, in order: bon, beam, report (default all three)
#
# Test tasks: TextCraft all 200 of ADaPT's test goals, BabyAI all 90 test levels, WebShop the first
# 200 test goals. Temperature 0.7.
#   bon:    Best-of-N 1..32 from one pool of 32 samples per task, every method (none, greedy and
#           oracle-select included: the last is privileged, an upper bound).
#   beam:   the paper's shapes @2x2, @4x4, @8x8 (budget 4, 16, 64) for BEAM_METHODS (environment
#           variable, default agentprm,orm,pvm).
#   report: leaderboard (with paired.md/.csv, pooled over seeds) in OUT/leaderboard, scaling
#           figures and the efficiency table in OUT/figures.
# The policies the committed records were sampled from are in results/search/policies/ENV where
# kept (POLICIES=DIR for another place): each is installed as ENV's default policy before the
# sweeps (`build-defaults --policy-from`), since a build on another CPU trains other bits; the script
# stops with the fix if the cache already holds another default. Without one, the default is built.
# Every sweep is resumable: a killed run re-run with the same arguments skips the cells it wrote
# (and a beam cell resumes from the task groups it finished).
# Two cores: run two invocations at once on different (env, seed) with OMP_NUM_THREADS=1, e.g.
#   OMP_NUM_THREADS=1 bash benchmarks/reproduce.sh runs/repro-v1 textcraft 0 bon &
#   OMP_NUM_THREADS=1 bash benchmarks/reproduce.sh runs/repro-v1 textcraft 1 bon &
# then `bash benchmarks/reproduce.sh runs/repro-v1 textcraft 0 report` (the report reads every
# (env, seed) directory under OUT).
set -euo pipefail
out=${1:-runs/repro-v1} envs=${2:-textcraft,babyai,webshop} seeds=${3:-0,1,2} parts=${4:-bon,beam,report}
beam_methods=${BEAM_METHODS:-agentprm,orm,pvm} policies=${POLICIES:-results/search/policies}
cli=(python3 -m agentprm_bench.cli)
tasks_for() { case $1 in textcraft) echo 200 ;; babyai) echo 90 ;; webshop) echo 200 ;;
                *) echo "reproduce.sh: unknown env $1 (textcraft, babyai, webshop)" >&2; exit 2 ;; esac; }
has() { [[ ",$1," == *",$2,"* ]]; }

for env in ${envs//,/ }; do
  tasks=${TASKS:-$(tasks_for "$env")}  # TASKS=N: the first N only (a smoke test)
  if [[ -d $policies/$env ]]; then
    "${cli[@]}" build-defaults --envs "$env" --policy-from "$policies" --no-progress > /dev/null
  fi
  for seed in ${seeds//,/ }; do
    dir=$out/$env/seed$seed
    if has "$parts" bon; then
      "${cli[@]}" sweep --envs "$env" --seed "$seed" --tasks "$tasks" --searches bon --budgets 1,2,4,8,16,32 \
          --methods none,greedy,oracle-select,agentprm,agentprm-beta0,pvm,orm,mc-prm,inverse-prm \
          --out "$dir" --no-progress --yes
    fi
    if has "$parts" beam; then
      for shape in 2:4 4:16 8:64; do
        "${cli[@]}" sweep --envs "$env" --seed "$seed" --tasks "$tasks" --searches beam --expand "${shape%%:*}" \
            --budgets "${shape##*:}" --methods "$beam_methods" --out "$dir" --no-progress --yes
      done
    fi
  done
done
if has "$parts" report; then
  "${cli[@]}" leaderboard "$out" --out "$out/leaderboard" > /dev/null
  "${cli[@]}" plot "$out" --out "$out/figures" > /dev/null
  echo "wrote $out/leaderboard (leaderboard.md, paired.md) and $out/figures"
fi
