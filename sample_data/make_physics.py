"""Generate sample_data/physics.csv: a synthetic signal-vs-background sample.

A toy collider search: signal events come from a resonance decaying to two jets
(a peak in the dijet mass m_jj near 125 GeV) with harder leptons and more missing
transverse energy; background falls smoothly. The boundary is nonlinear (a mass
window plus correlated kinematics), one column is categorical (the lepton channel),
and jet2_pt is missing whenever fewer than two jets were found, as in real data.

Run from the repository root (the output is deterministic for the fixed seed):

    python sample_data/make_physics.py

With ``--root DIR`` it writes the same events as ROOT files instead, the way an analysis
holds them (needs ``pip install 'nncli[root]'``): one tree ``events`` per sample —
``sig.root`` (the signal), ``ttbar.root`` and ``wjets.root`` (the background split in
two, to be weighted 0.83 and 2.1 per file) — with an event-weight branch ``evt_w``
(about 1, 2% negative, as NLO generators make them), the channel as an integer
(0 ee, 1 mumu, 2 emu) and a jagged branch ``jet_e`` (each jet's energy).
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


def write_root(folder: Path, seed: int = SEED) -> list[Path]:
    """The sample as three ROOT files of one tree each (see the module's docstring)."""
    import awkward as ak
    import uproot

    frame = generate()
    rng = np.random.default_rng(seed + 1)
    frame["channel"] = frame["channel"].map({"ee": 0, "mumu": 1, "emu": 2}).astype(np.int32)
    frame["evt_w"] = rng.normal(1.0, 0.1, len(frame)) * np.where(rng.random(len(frame)) < 0.02,
                                                                   -1.0, 1.0)  # fmt: skip
    energies = [list(np.round(rng.gamma(2.0, 30.0, k) + 25.0, 2)) for k in frame["n_jets"]]
    frame["n_jets"] = frame["n_jets"].astype(np.int32)
    background = frame["label"] == "background"
    half = rng.random(len(frame)) < 0.5
    parts = {"sig": ~background, "ttbar": background & half, "wjets": background & ~half}
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in parts.items():
        part = frame[rows.to_numpy()].drop(columns="label")
        branches = {c: part[c].to_numpy() for c in part.columns}
        branches["jet_e"] = ak.Array([energies[i] for i in np.flatnonzero(rows.to_numpy())])
        path = folder / f"{name}.root"
        with uproot.recreate(path) as out:
            types = {c: v.dtype for c, v in branches.items() if c != "jet_e"}
            out.mktree("events", types | {"jet_e": "var * float64"}, title=f"{name} events")
            out["events"].extend(branches)
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--root":
        for path in write_root(Path(sys.argv[2])):
            print(f"wrote {path}")  # noqa: T201
    else:
        out = Path(__file__).with_name("physics.csv")
        generate().to_csv(out, index=False)
        print(f"wrote {out}")  # noqa: T201
