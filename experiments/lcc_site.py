#!/usr/bin/env python3
"""Reproduce the LCC site experiment on the bundled ES-LM1 case.

Majadas de Tietar (ES-LM1), simulation 2015-2021 after a 2-year spin-up, assimilation window
2017-2021, assimilated streams SIF, L-VOD and surface soil moisture; validation against
FAPAR, NEE and GPP (the bundled observations are a synthetic twin of those products, see
the case's README.md). Equivalent to ``tccas assimilate ES-LM1 -o OUT``, plus a figure of
the target quantities (window-mean annual GPP, NEE, ET and AGB per PFT and cell, prior and
posterior with their sigma).

    python experiments/lcc_site.py [-o lcc-es-lm1] [--resume]

Figures: OUT/figures/timeseries.png, parameters.png, cost.png, targets.png.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tccas


def plot_targets(res, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = ["gpp", "nee", "et", "agb"]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    for ax, g in zip(axes, groups):
        names = [n for n in res.targets if n.startswith(g + "[")]
        t = [res.targets[n] for n in names]
        k = np.arange(len(names))
        ax.errorbar(k - 0.1, [v["prior"] for v in t], yerr=[v["sigma_prior"] for v in t],
                    fmt="o", color="tab:blue", capsize=3, label="prior")
        ax.errorbar(k + 0.1, [v["posterior"] for v in t],
                    yerr=[v["sigma_posterior"] for v in t], fmt="o", color="tab:red",
                    capsize=3, label="posterior")
        ax.set_xticks(k)
        ax.set_xticklabels([n[len(g) + 1:-1] for n in names])
        ax.set_title(f"{g.upper()} [{t[0]['unit']}]")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="lcc-es-lm1")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    res = tccas.assimilate("ES-LM1", output_dir=args.output, resume=args.resume)
    print(res.summary, end="")
    for path in res.files.values():
        print(f"wrote {path}")
    try:
        print(f"wrote {plot_targets(res, Path(args.output) / 'figures' / 'targets.png')}")
    except ImportError:
        print("matplotlib is not installed: no target figure")
    print("timing [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in res.timing.items()))


if __name__ == "__main__":
    main()
