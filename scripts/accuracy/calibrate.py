"""Fitting the two score maps from non-target trials only.

Both maps are anchored on false-accept rates of *same-corpus* non-target trials (an impostor of the same
language, channel and material as the enrolled speaker: the hard case; cross-corpus impostors are far
easier and would make the anchors look better than a real deployment's):
- authentication Score 50 where that FAR is AUTH_FAR_AT_50 and 90 where it is AUTH_FAR_AT_90, a tenfold
  margin under the issue's "FAR <= 1 % at 90";
- RiskScore 50 where that FAR is RISK_FAR_AT_50 per comparison: a watchlist of N fraudsters raises an
  innocent caller's false-alarm chance roughly N-fold, and the issue asks for <= 1 % false alarms with the
  evaluation's watchlists of 12; the risk map has the authentication map's slope.
Target trials never set an anchor, so the false-reject rates reported are measured, not fitted.
"""

from __future__ import annotations

import math

import numpy as np

from voiceprints.scoring import Calibration, ScoreMap

AUTH_FAR_AT_50 = 0.05
AUTH_FAR_AT_90 = 0.001
RISK_FAR_AT_50 = 0.0005


def fit(nontarget: np.ndarray, *, statistic: str, top_k: int, meta: dict | None = None) -> Calibration:
    """The calibration whose anchors sit at the given FARs of these non-target statistics."""
    nontarget = np.asarray(nontarget, dtype=np.float64)
    x50, x90, risk50 = np.quantile(nontarget, [1 - AUTH_FAR_AT_50, 1 - AUTH_FAR_AT_90, 1 - RISK_FAR_AT_50])
    width = (x90 - x50) / math.log(9.0)
    return Calibration(
        statistic=statistic,
        top_k=top_k,
        auth=ScoreMap(float(x50), float(width)),
        risk=ScoreMap(float(risk50), float(width)),
        meta=dict(meta or {}),
    )
