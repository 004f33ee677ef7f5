"""`python -m rt_assets.demo`: the daily rt pipeline on the embedded defaults.

Runs one date for a few states with the bundled archive into the local lake
(``./.lake`` unless LAKE_URL says otherwise), records the runs in DAGSTER_HOME
(default ``./.dagster``, so `make ui` shows them), and prints each state's latest Rt
and where the national CSV, the published files and the web page are. It is
``python -m rt_assets.daily`` with a quick default date and three states.
"""

from __future__ import annotations

import sys

from rt_assets import daily

DEFAULT_DATE = "2020-05-15"
# A spring-2020 date: short series, so the demo takes about a minute. The `fast` preset
# (2 chains x 200 draws, low-rank mass matrix) passes rt.live's gate (r_hat <= 1.1, no
# divergences) here and on the year-long series of 2021-03-07 too (docs/rt-pipeline.md,
# "Run it"); `--preset full` (or RT_SAMPLER_PRESET=full, the rt_sampler resource's
# default) applies the strict gate.
DEFAULT_STATES = ("NH", "RI", "VT")


def main(argv: list[str] | None = None) -> int:
    return daily.main(
        argv,
        prog="python -m rt_assets.demo",
        description=__doc__.splitlines()[0],
        date=DEFAULT_DATE,
        states=",".join(DEFAULT_STATES),
    )


if __name__ == "__main__":
    sys.exit(main())
