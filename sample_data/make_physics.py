"""Generate sample_data/physics.csv: a synthetic signal-vs-background sample.

A toy collider search: signal events come from a resonance decaying to two jets
(a peak in the dijet mass m_jj near 125 GeV) with harder leptons and more missing
transverse energy; background falls smoothly. The boundary is nonlinear (a mass
window plus correlated kinematics), one column is categorical (the lepton channel),
and jet2_pt is missing whenever fewer than two jets were found, as in real data.

Run from the repository root (the output is deterministic for the fixed seed):

    python sample_data/make_physics.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261125
N_ROWS = 4000
SIGNAL_FRACTION = 0.3


def generate(n: int = N_ROWS, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.random(n) < SIGNAL_FRACTION
    lep_pt = np.where(signal, rng.gamma(4.0, 12.0, n), rng.gamma(2.5, 12.0, n)) + 20.0
    lep_eta = rng.normal(0.0, np.where(signal, 0.9, 1.3), n)
    met = 0.35 * lep_pt + np.where(signal, rng.gamma(3.0, 12.0, n), rng.gamma(2.0, 10.0, n))
    m_jj = np.where(signal, rng.normal(125.0, 14.0, n), 40.0 + rng.exponential(80.0, n))
    delta_r = np.clip(np.where(signal, rng.normal(1.6, 0.6, n), rng.normal(2.6, 0.9, n)), 0.4, 5)
    n_jets = np.clip(rng.poisson(np.where(signal, 2.8, 1.9)), 1, 8)
    jet2_pt = np.where(n_jets >= 2, 25.0 + rng.gamma(2.0, np.where(signal, 22.0, 15.0)), np.nan)
    channel = rng.choice(["ee", "mumu", "emu"], size=n, p=[0.3, 0.4, 0.3])
    # a channel dependence: the emu channel has a worse mass resolution
    m_jj = m_jj + np.where(channel == "emu", rng.normal(0.0, 12.0, n), 0.0)
    met[rng.random(n) < 0.01] = np.nan  # a few events lost their MET measurement
    frame = pd.DataFrame(
        {
            "lep_pt": lep_pt.round(2),
            "lep_eta": lep_eta.round(3),
            "met": met.round(2),
            "m_jj": m_jj.round(2),
            "delta_r": delta_r.round(3),
            "n_jets": n_jets,
            "jet2_pt": jet2_pt.round(2),
            "channel": channel,
            "label": np.where(signal, "signal", "background"),
        }
    )
    return frame


if __name__ == "__main__":
    out = Path(__file__).with_name("physics.csv")
    generate().to_csv(out, index=False)
    print(f"wrote {out}")  # noqa: T201
