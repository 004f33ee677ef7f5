"""MODEL_VERSION pinned to a fingerprint of the model it names.

``MODEL_VERSION`` is rt/inference's code version and is stamped into every stored
posterior: a change of the likelihood, a prior or the data layout without a new version
would let Dagster call old posteriors current, and label new ones with the old model.
The fingerprint is the model's variable names and its log-density at its initial point,
on a fixed simulated series.
"""

import numpy as np
import pandas as pd

from rt_assets import model as m

# One entry per model version: (sorted free and deterministic variable names, log-density
# at the initial point of the fingerprint series, rounded to 1e-6).
FINGERPRINTS = {
    "rtlive-generative-1.0+nutpie-3": (
        ("alpha", "infections", "log_r_t", "r_t", "seed", "test_adjusted_positive"),
        -351.313258,
    ),
    # Same distribution; the data became inputs and the series is padded to a whole
    # bucket of days (rt_assets.model.generative.BUCKET_DAYS), the likelihood a Potential.
    "rtlive-generative-1.0+nutpie-4": (
        ("alpha", "infections", "log_r_t", "r_t", "seed", "test_adjusted_positive"),
        -317.244697,
    ),
}


def fingerprint_series() -> pd.DataFrame:
    """40 days of a known Rt path drawn with a fixed seed: fast, and fixed."""
    dates = pd.date_range("2020-03-01", periods=50, freq="D")
    r_t = pd.Series(np.linspace(1.4, 0.9, len(dates)), index=dates)
    return m.simulate(r_t, rng=20200301).drop(columns="r_t_true")


def model_fingerprint() -> tuple[tuple[str, ...], float]:
    model = m.build_model(fingerprint_series())
    names = tuple(sorted(v.name for v in [*model.free_RVs, *model.deterministics]))
    logp = float(model.compile_logp()(model.initial_point()))
    return names, round(logp, 6)


def test_model_version_matches_the_model_fingerprint():
    names, logp = model_fingerprint()
    bump = (
        f"the model changed but MODEL_VERSION ({m.MODEL_VERSION!r}) did not: bump "
        "MODEL_VERSION in rt_assets/model/assumptions.py and add its entry to FINGERPRINTS "
        f"in this file: {{'<new version>': ({names!r}, {logp!r})}}"
    )
    assert m.MODEL_VERSION in FINGERPRINTS, (
        f"no fingerprint recorded for MODEL_VERSION {m.MODEL_VERSION!r}: add "
        f"{{{m.MODEL_VERSION!r}: ({names!r}, {logp!r})}} to FINGERPRINTS"
    )
    recorded_names, recorded_logp = FINGERPRINTS[m.MODEL_VERSION]
    assert names == recorded_names, bump
    assert np.isclose(logp, recorded_logp, rtol=0, atol=1e-5), bump


def test_each_version_has_its_own_fingerprint():
    # Two versions with one fingerprint: a version was bumped without a model change, or
    # an old entry was overwritten instead of a new one added.
    assert len(set(FINGERPRINTS.values())) == len(FINGERPRINTS)
