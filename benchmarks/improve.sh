#!/usr/bin/env bash
# Policy improvement (issue: actor-critic loop): AgentPRM-guided step-level DPO vs rejection
# fine-tuning on outcomes, 3 iterations from the default policy, per env and seed, then the
# table, figures and paired final policies of results/improve.md, made from the run records
# copied to results/improve/runs/.
#
#   bash benchmarks/improve.sh [OUT] [ENVS] [SEEDS] [REWARDS]
#
# Each run is resumable (re-run the script after a kill); on 2 CPU cores one TextCraft run of
# 3 iterations takes about 15-20 minutes on an idle machine. OMP_NUM_THREADS=1 and one run per
# core is fastest on a small CPU.
set -euo pipefail
out=${1:-runs/improve} envs=${2:-textcraft,babyai} seeds=${3:-0,1,2} rewards=${4:-agentprm,outcome}
cli=(python3 -m agentprm_bench.cli)
for env in ${envs//,/ }; do
  # every seed starts from the committed start policy (results/improve/start/README.md), given by
  # path: the env's default policy may have changed since (BabyAI-v1's did on 2026-12-03)
  start=results/improve/start/$env
  from=()
  if [[ -d $start ]]; then
    from=(--policy "$(cd "$start" && pwd)")
  fi
  for seed in ${seeds//,/ }; do
    for reward in ${rewards//,/ }; do
      run=$env-$reward-s$seed
      "${cli[@]}" improve --env "$env" --reward "$reward" --iterations 3 --seed "$seed" \
          --out "$out/$run" --no-progress "${from[@]}"
      # the run's records (per-task test values, compute, policy digest, machine) are small: keep
      # them in the repo, since $out may not outlive the machine
      mkdir -p "results/improve/runs/$run"
      cp "$out/$run/improve.jsonl" "$out/$run/improve_config.json" "results/improve/runs/$run/"
    done
  done
done
"${cli[@]}" plot results/improve/runs --out results/improve
