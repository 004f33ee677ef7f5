"""One small stored posterior per model version keeps older publications readable.

``tests/data/posteriors/<MODEL_VERSION>.nc`` is a posterior of that model version (the
``fast`` preset on the 40-day fingerprint series, thinned to 2 x 10 draws, float32):
the summary code must still read every one of them. A new model version adds its file:

    uv run python -m tests.rt_assets.test_stored_posteriors
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from rt_assets import model as m
from rt_assets import summary

STORED = Path(__file__).parents[1] / "data" / "posteriors"
KEPT_VARS = ("r_t", "infections", "test_adjusted_positive")
DRAWS_KEPT = 10


def stored_path(version: str) -> Path:
    return STORED / f"{version}.nc"


def counts_for(idata: xr.DataTree, region: str) -> pd.DataFrame:
    """Processed counts as rt/processed_counts holds them, from the data the model saw."""
    data = idata.constant_data
    weighted = data["weight"].values.astype(bool)
    dates = pd.DatetimeIndex(data["date"].values)[weighted]
    positive = data["positive"].values[weighted]
    tests = data["tests"].values[weighted]
    return pd.DataFrame(
        {
            "region": region,
            "date": dates,
            "positive": positive,
            "total": tests,
            "excluded": False,
            "exclusion_reason": "",
            "positive_cumulative": np.cumsum(positive),
            "tests_cumulative": np.cumsum(tests),
            "new_deaths": 0.0,
        }
    )


def test_the_current_model_version_has_a_stored_posterior():
    assert stored_path(m.MODEL_VERSION).exists(), (
        f"no stored posterior for MODEL_VERSION {m.MODEL_VERSION!r}: write it with "
        "`uv run python -m tests.rt_assets.test_stored_posteriors`"
    )


@pytest.mark.parametrize("path", sorted(STORED.glob("*.nc")), ids=lambda p: p.stem)
def test_the_summary_reads_each_stored_posterior(path):
    idata = xr.load_datatree(path)
    assert idata.posterior.attrs["model_version"] == path.stem
    assert path.stat().st_size < 50_000  # a fixture, not a data set
    rows = summary.summarize(idata, counts_for(idata, "SIM"), "SIM")
    assert len(rows) == int(idata.constant_data["weight"].sum())
    assert (rows["lower_80"] <= rows["mean"]).all() and (rows["mean"] <= rows["upper_80"]).all()
    assert rows["mean"].between(0.3, 3.0).all()
    assert summary.latest(rows)["date"] == str(rows["date"].iloc[-1])[:10]


def store(idata: xr.DataTree, path: Path) -> None:
    """The posterior thinned to 2 x 10 draws of what the summary reads, in float32, and the
    counts the model saw. Uncompressed: at this size HDF5's chunk index costs more than
    zlib saves (most of the ~40 KB is the netCDF-4 container itself)."""
    posterior = idata.posterior.to_dataset()[list(KEPT_VARS)]
    step = max(1, posterior.sizes["draw"] // DRAWS_KEPT)
    posterior = posterior.isel(draw=slice(None, step * DRAWS_KEPT, step)).astype("float32")
    posterior.attrs = dict(idata.posterior.attrs)
    constant = idata.constant_data.to_dataset()[["positive", "tests", "weight"]].astype(
        {"positive": "float32", "tests": "float32", "weight": "int8"}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    posterior.to_netcdf(path, group="posterior", engine="h5netcdf")
    constant.to_netcdf(path, group="constant_data", mode="a", engine="h5netcdf")


def write_stored_posterior() -> Path:
    """Fit the current model version on the fingerprint series and store its posterior."""
    from tests.rt_assets.test_model_fingerprint import fingerprint_series

    idata = m.fit(fingerprint_series(), "fast", seed=7, region="SIM")
    path = stored_path(m.MODEL_VERSION)
    store(idata, path)
    return path


if __name__ == "__main__":
    written = write_stored_posterior()
    print(f"wrote {written} ({written.stat().st_size} bytes)")
