"""National CSV and the staging comparison (pure, no Dagster).

The msgpack document (``rtlive-msgpack/1``) has its own module, ``msgpack_format``. Staging
compares each state's latest Rt with the previous day's
publication; promotion to production is refused while warnings stand unless a
person approves them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from rt_assets.summary import RT_CSV_COLUMNS

DEFAULT_MAX_CHANGE = 0.2


class PromotionRefused(RuntimeError):
    """Staging has warnings nobody approved; production stays as it was."""


def national_table(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All states' rt.csv rows in one table (sorted by region, then date)."""
    frames = [df for df in summaries.values() if df is not None and len(df)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RT_CSV_COLUMNS})
    table = pd.concat(frames, ignore_index=True)
    missing = [c for c in RT_CSV_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"summaries lack rt.csv columns {missing}")
    table = table[RT_CSV_COLUMNS].sort_values(["region", "date"], kind="stable")
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class StagingWarning:
    region: str
    kind: str  # "moved" or "crossed_1"
    previous: float
    current: float
    message: str


def compare_with_previous(
    doc: dict, previous: dict | None, max_change: float = DEFAULT_MAX_CHANGE
) -> list[StagingWarning]:
    """Warnings for states whose latest Rt moved too far from yesterday's publication.

    - ``moved``: the latest mean Rt differs from yesterday's latest mean by more
      than ``max_change``;
    - ``crossed_1``: yesterday's latest mean was on one side of 1 and today's whole
      80% interval is on the other side (a confident change of direction).
    States new today or gone since yesterday are not compared.
    """
    if previous is None:
        return []
    warnings: list[StagingWarning] = []
    for region, entry in sorted(doc["states"].items()):
        before = previous.get("states", {}).get(region)
        if not before or not before["mean"] or not entry["mean"]:
            continue
        prev_mean, mean = float(before["mean"][-1]), float(entry["mean"][-1])
        lower, upper = float(entry["lower_80"][-1]), float(entry["upper_80"][-1])
        if math.isfinite(prev_mean) and abs(mean - prev_mean) > max_change:
            warnings.append(
                StagingWarning(
                    region,
                    "moved",
                    prev_mean,
                    mean,
                    f"{region}: latest Rt {mean:.3f} moved {mean - prev_mean:+.3f} from "
                    f"yesterday's {prev_mean:.3f} (threshold {max_change})",
                )  # fmt: skip
            )
        if (prev_mean < 1.0 < lower) or (prev_mean > 1.0 > upper):
            warnings.append(
                StagingWarning(
                    region,
                    "crossed_1",
                    prev_mean,
                    mean,
                    f"{region}: Rt crossed 1.0 with high confidence: yesterday {prev_mean:.3f}, "
                    f"today 80% interval [{lower:.3f}, {upper:.3f}]",
                )  # fmt: skip
            )
    return warnings


def warnings_table(warnings: list[StagingWarning]) -> pd.DataFrame:
    return pd.DataFrame(
        [asdict(w) for w in warnings],
        columns=["region", "kind", "previous", "current", "message"],
    )


def approve_promotion(warnings: list[StagingWarning], approved: bool, run_date: str) -> str:
    """Say why promotion may go ahead, or raise ``PromotionRefused`` explaining how to approve."""
    if not warnings:
        return "staging has no warnings: promoted automatically"
    if approved:
        return f"{len(warnings)} staging warning(s) approved by run config: promoted"
    listing = "\n".join(f"  - {w.message}" for w in warnings)
    raise PromotionRefused(
        f"refusing to publish {run_date}: staging has {len(warnings)} warning(s):\n{listing}\n"
        "Production keeps its previous files. After reviewing, re-run the promotion with run "
        "config `ops: {rt__published: {config: {approve_warnings: true}}}` "
        "(or `run_daily(..., approve_warnings=True)`)."
    )
