"""rt.live's data corrections, applied from a table (pure, no Dagster).

The corrections themselves live in ``rt_assets/data/corrections.csv``, one row
per correction with its reason and source, so adding one is a reviewed data
change, not a new code branch. Actions:

- ``drop_region``: the region is left out entirely;
- ``offset_cumulative``: ``value`` is added to the cumulative ``column``
  (``positive`` or ``tests``) from ``start`` on, which removes a one-day data
  dump (a backlog or a definition change) from the daily series;
- ``set_daily``: the daily ``column`` is set to ``value`` on ``start..end``
  (spreading a lump over the days it belongs to);
- ``exclude``: the days ``start..end`` carry no weight in the likelihood.

Rows with ``active`` false are kept for the record but not applied; ``note``
says why (rt.live made some corrections against the live API, and the final
archive has since revised those days, so applying them would now distort it).

Rules applied to every region (rt.live's): daily counts are the differences of
the cumulative series with negative changes clipped to zero, and days where
positives >= tests (no positivity signal, tests not reported) are excluded.
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources

import pandas as pd

from rt_assets.sources import STATES, as_of

ACTIONS = ("drop_region", "offset_cumulative", "set_daily", "exclude")
TABLE_COLUMNS = [
    "id", "region", "start", "end", "action", "column", "value",
    "active", "reason", "source", "note",
]  # fmt: skip
PROCESSED_COLUMNS = [
    "region",
    "date",
    "positive",
    "total",
    "excluded",
    "exclusion_reason",
    "positive_cumulative",
    "tests_cumulative",
    "new_deaths",
]
POSITIVES_GE_TESTS = "positives >= tests"


class CorrectionsError(ValueError):
    """The corrections table is malformed; the message names the row."""


def corrections_bytes() -> bytes:
    return (resources.files("rt_assets") / "data" / "corrections.csv").read_bytes()


def corrections_version(data: bytes | None = None) -> str:
    """Content hash of the table: changes whenever a correction is added or edited."""
    return hashlib.sha256(data if data is not None else corrections_bytes()).hexdigest()[:12]


def load_corrections(data: bytes | None = None, name: str = "corrections.csv") -> pd.DataFrame:
    """Parse and validate a corrections table (the bundled one by default)."""
    raw = data if data is not None else corrections_bytes()
    table = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise CorrectionsError(f"{name}: missing columns {missing}")
    for i, row in table.iterrows():
        line = i + 2
        if row["action"] not in ACTIONS:
            raise CorrectionsError(
                f"{name} line {line}: unknown action {row['action']!r}; known: {list(ACTIONS)}"
            )
        if row["active"] not in ("true", "false"):
            raise CorrectionsError(f"{name} line {line}: active must be 'true' or 'false'")
        if not row["reason"].strip():
            raise CorrectionsError(f"{name} line {line}: every correction needs a reason")
        if row["action"] != "drop_region":
            try:
                pd.Timestamp(row["start"])
                if row["end"]:
                    pd.Timestamp(row["end"])
            except ValueError as exc:
                raise CorrectionsError(f"{name} line {line}: bad date: {exc}") from exc
            if not row["start"]:
                raise CorrectionsError(f"{name} line {line}: {row['action']} needs a start date")
        if row["action"] in ("offset_cumulative", "set_daily"):
            if row["column"] not in ("positive", "tests"):
                raise CorrectionsError(
                    f"{name} line {line}: column must be 'positive' or 'tests', "
                    f"got {row['column']!r}"
                )
            try:
                float(row["value"])
            except ValueError as exc:
                raise CorrectionsError(f"{name} line {line}: value must be a number") from exc
    if table["id"].duplicated().any():
        raise CorrectionsError(
            f"{name}: duplicate ids {list(table['id'][table['id'].duplicated()])}"
        )
    return table


def _days(row: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(row["start"])
    end = pd.Timestamp(row["end"]) if row["end"] else pd.Timestamp.max
    return start, end


def _region_counts(rows: pd.DataFrame, corrections: pd.DataFrame) -> pd.DataFrame:
    rows = rows.set_index("date").sort_index()
    days = pd.date_range(rows.index.min(), rows.index.max(), freq="D", name="date")
    rows = rows.reindex(days)
    # A day without a report adds nothing; before the first report nothing was counted.
    positive_cum = rows["positive_cumulative"].ffill().fillna(0.0)
    tests_cum = rows["tests_cumulative"].ffill().fillna(0.0)
    adjusted = {"positive": positive_cum.copy(), "tests": tests_cum.copy()}
    for _, c in corrections[corrections["action"] == "offset_cumulative"].iterrows():
        start, end = _days(c)
        span = (days >= start) & (days <= end)
        adjusted[c["column"]].loc[span] += float(c["value"])

    daily = pd.DataFrame({k: v.diff().clip(lower=0.0) for k, v in adjusted.items()})
    for _, c in corrections[corrections["action"] == "set_daily"].iterrows():
        start, end = _days(c)
        daily.loc[(days >= start) & (days <= end), c["column"]] = float(c["value"])

    reasons = pd.Series("", index=days, dtype=object)
    for _, c in corrections[corrections["action"] == "exclude"].iterrows():
        start, end = _days(c)
        span = (days >= start) & (days <= end) & (reasons == "")
        reasons.loc[span] = f"correction {c['id']}: {c['reason']}"
    # A falling cumulative count is a revision or a typo: its day is clipped to
    # zero above, and carries no weight rather than a false "no new cases".
    for column, series in adjusted.items():
        change = series.diff()
        fell = (change < 0) & (reasons == "")
        reasons.loc[fell] = [
            f"cumulative {column} fell by {-v:g} (negative change clipped to 0)"
            for v in change[fell]
        ]
    no_signal = (daily["positive"] >= daily["tests"]) & (reasons == "")
    reasons.loc[no_signal] = POSITIVES_GE_TESTS

    out = pd.DataFrame(
        {
            "date": days,
            "positive": daily["positive"].to_numpy(float),
            "total": daily["tests"].to_numpy(float),
            "excluded": (reasons != "").to_numpy(bool),
            "exclusion_reason": reasons.to_numpy(str),
            "positive_cumulative": positive_cum.to_numpy(float),
            "tests_cumulative": tests_cum.to_numpy(float),
            "new_deaths": rows["new_deaths"].to_numpy(float),
        }
    )
    # The first day has no previous day to difference against.
    return out.iloc[1:]


def process_counts(
    source: pd.DataFrame, run_date: str, corrections: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Daily corrected counts per region from a normalised source table.

    Uses only rows dated before ``run_date`` (what was published by D-1). The
    result has the columns of ``PROCESSED_COLUMNS``, one row per region and
    day, contiguous per region, sorted by region and date.
    """
    table = corrections if corrections is not None else load_corrections()
    table = table[table["active"] == "true"]
    visible = as_of(source, run_date)
    dropped = set(table.loc[table["action"] == "drop_region", "region"])
    unknown = set(unknown_regions(visible, table))
    frames = []
    for region, rows in visible.groupby("region", sort=True):
        if region in dropped or region in unknown or len(rows) < 2:
            continue
        counts = _region_counts(rows.drop(columns="region"), table[table["region"] == region])
        counts.insert(0, "region", region)
        frames.append(counts)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PROCESSED_COLUMNS})
    out = pd.concat(frames, ignore_index=True)[PROCESSED_COLUMNS]
    out["date"] = out["date"].astype("datetime64[ns]")
    return out


def unknown_regions(source: pd.DataFrame, corrections: pd.DataFrame | None = None) -> dict:
    """Region codes that are neither published states nor known-and-dropped, with row counts.

    Their rows are left out of the processed counts (a new or mistyped code
    must not block the others) and reported in the asset's metadata.
    """
    table = corrections if corrections is not None else load_corrections()
    known = set(STATES) | set(table.loc[table["action"] == "drop_region", "region"])
    counts = source.loc[~source["region"].isin(known), "region"].value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items())}


def observed_for_model(processed: pd.DataFrame, region: str) -> pd.DataFrame:
    """One region's rows as the model's ``observed`` frame (daily index named ``date``)."""
    rows = processed[processed["region"] == region]
    if rows.empty:
        known = sorted(processed["region"].unique())
        raise ValueError(f"no processed counts for region {region!r}; regions present: {known}")
    observed = rows.set_index(pd.DatetimeIndex(rows["date"], name="date"))[
        ["positive", "total", "excluded"]
    ].astype({"positive": float, "total": float, "excluded": bool})
    return observed


def exclusion_summary(processed: pd.DataFrame) -> pd.DataFrame:
    """Excluded days per region and reason (for metadata)."""
    ex = processed[processed["excluded"]]
    return (
        ex.groupby(["region", "exclusion_reason"]).size().rename("days").reset_index()
        if len(ex)
        else pd.DataFrame(columns=["region", "exclusion_reason", "days"])
    )
