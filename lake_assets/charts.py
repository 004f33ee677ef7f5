"""Anomaly charts as PNG bytes, stored in the lake beside the anomalies. Pure, no Dagster."""

from __future__ import annotations

import io

import pandas as pd

MARKERS = {"iforest": ("v", "tab:orange"), "arima": ("s", "tab:green"), "robust": ("o", "tab:red")}


def png_bytes(fig) -> bytes:  # fig: a matplotlib Figure
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def anomaly_chart(frame: pd.DataFrame, origin: str) -> bytes:
    """Daily mean departure delay of one airport with each detector's flags marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    one = frame[frame["origin"] == origin].copy()
    one["fl_date"] = pd.to_datetime(one["fl_date"].astype("string"))
    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.plot(one["fl_date"], one["mean_dep_delay"], lw=0.8, color="0.3", label="mean dep delay")
    for name, (marker, color) in MARKERS.items():
        col = f"{name}_flag"
        if col in one:
            hit = one[one[col]]
            ax.scatter(
                hit["fl_date"],
                hit["mean_dep_delay"],
                marker=marker,
                s=28,
                facecolors="none",
                edgecolors=color,
                label=f"{name} ({len(hit)})",
            )
    ax.set_title(f"{origin}: daily mean departure delay (min) and flagged days", fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.tick_params(labelsize=7)
    return png_bytes(fig)
