"""Scaling curves from result records: metric vs budget and vs compute, one line per method,
95% CI bands, one figure per env (rows: Best-of-N, beam search). A panel shows the runs on
its search's most common task set, with plain sampling on that same set. Several seeds: each point
is the mean over the seeds (metric and compute) with the crossed seeds-and-tasks interval of
``leaderboard.over_seeds``; the legend gives the seed count."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def scaling_figures(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agentprm_bench.report.leaderboard import over_seeds

    df = over_seeds(df)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for env, rows in df.groupby("env"):
        searches = [s for s in ("bon", "beam") if (rows.search == s).any()] or ["bon"]
        fig, axes = plt.subplots(len(searches), 2, figsize=(11, 4 * len(searches)), squeeze=False)
        sample = rows[rows.search == "sample"]
        palette = plt.get_cmap("tab10")
        hues = [palette(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]  # tab10 without its gray (oracle-select's)
        colors = {m: hues[i % len(hues)] for i, m in enumerate(sorted(set(rows.method) - {"oracle-select"}))}
        for r, search in enumerate(searches):
            own = rows[rows.search == search]
            tasks = own.tasks.mode().iloc[0] if not own.empty else sample.tasks.max()  # compare on one task set
            part = pd.concat([own, sample])
            part = part[part.tasks == tasks]
            for method, m in part.groupby("method"):
                m = m.sort_values("budget")
                style = {"linestyle": "--"} if method in ("none", "greedy") else \
                    {"linestyle": ":"} if method == "oracle-select" else {}
                style["color"] = "gray" if method == "oracle-select" else colors[method]
                for c, x in enumerate(("budget", "total_tokens")):
                    ax = axes[r][c]
                    label = f"{method} (privileged: sees the outcome)" if method == "oracle-select" else method
                    low, high = int(m.seeds.min()), int(m.seeds.max())  # points of a curve may differ
                    label += f" ({low}-{high} seeds)" if low < high else f" ({high} seeds)" if high > 1 else ""
                    line, = ax.plot(m[x], m.value, marker="o", label=label, **style)
                    ax.fill_between(m[x], m.ci_low, m.ci_high, alpha=0.08, color=line.get_color())
            for c, label in enumerate(("budget (N for BoN, N x M for beam)", "compute (policy + RM tokens)")):
                ax = axes[r][c]
                ax.set_xscale("log", base=2 if c == 0 else 10)
                ax.set_xlabel(label)
                ax.set_ylabel(rows.metric.iloc[0])
                ax.set_title(f"{env}: {'Best-of-N' if search == 'bon' else 'beam search'} ({tasks} test tasks)")
                ax.grid(alpha=0.3)
            axes[r][0].legend(fontsize=8)
        fig.tight_layout()
        path = out / f"scaling_{env}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
