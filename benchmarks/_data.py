"""Benchmark inputs: one state's observed frame for a run date, via the pipeline's readers."""

import functools
from pathlib import Path

import pandas as pd

from rt_assets import corrections, sources

RUN_DATE = "2021-03-07"


@functools.cache
def processed(run_date: str = RUN_DATE) -> pd.DataFrame:
    data = Path(sources.bundled_archive_path()).read_bytes()
    return corrections.process_counts(sources.read_source(data, "bundled archive"), run_date)


def observed(region: str, run_date: str = RUN_DATE) -> pd.DataFrame:
    return corrections.observed_for_model(processed(run_date), region)


def regions(run_date: str = RUN_DATE) -> list[str]:
    return sorted(processed(run_date)["region"].unique())
