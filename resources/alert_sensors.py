"""Sensors that turn failures into alerts; each code location builds its own pair.

- ``build_run_failure_alert_sensor``: one alert per failed run of the location,
  naming the assets, the partition, the failed steps and their errors.
- ``build_check_alert_sensor``: reads asset check evaluations (and freshness
  state changes of assets with a ``FreshnessPolicy``) from the event log after
  its cursor and alerts on failures: blocking checks (non-converged states),
  WARN-severity checks (Rt jumps at staging) and freshness checks.

"Once per failure": a freshness check is re-evaluated every few minutes while
an asset stays late; the sensor remembers, in its cursor, which freshness checks
are failing and alerts only when one turns to failed (again after it passed).
Any other check fails inside the run that materialized its asset, so each
failed evaluation is a new failure and alerts once (the event cursor never
re-reads an event).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg
from dagster import AssetCheckSeverity, DagsterEventType, EventRecordsFilter

from resources.alerts import Alert, AlertsResource
from resources.pod_diagnosis import explain_step_failure

BATCH = 500


@dataclass(frozen=True)
class CheckOutcome:
    """One check evaluation as the alert logic needs it (pure data, easy to test)."""

    asset: str
    check: str
    partition: str
    passed: bool
    severity: str  # "ERROR" | "WARN"
    blocking: bool
    run_id: str
    description: str = ""


def is_freshness_check(check_name: str) -> bool:
    return "freshness" in check_name


def alerts_for_outcomes(
    outcomes: Iterable[CheckOutcome], failing: set[str]
) -> tuple[list[Alert], set[str]]:
    """Alerts to send for ``outcomes`` given the freshness checks already failing.

    Returns the alerts and the new set of failing freshness check ids.
    """
    failing = set(failing)
    alerts = []
    for o in outcomes:
        ident = f"{o.asset}:{o.check}|{o.partition}"
        if is_freshness_check(o.check):
            if o.passed:
                failing.discard(ident)
                continue
            if ident in failing:
                continue  # still late: already alerted
            failing.add(ident)
            kind = "freshness"
        elif o.passed:
            continue
        elif o.blocking:
            kind = "blocking_check"
        elif o.severity == "WARN":
            kind = "check_warning"
        else:
            kind = "check_failed"
        what = f"check {o.check} failed"
        if o.description:
            what += f": {o.description}"
        alerts.append(
            Alert(
                kind=kind,
                asset=o.asset,
                partition=o.partition,
                what=what,
                run_id=o.run_id,
                severity=o.severity,
            )
        )
    return alerts, failing


def _freshness_alert(record: dg.EventLogRecord) -> Alert | None:
    """An alert for a FreshnessPolicy state change to WARN or FAIL (evaluated by the daemon)."""
    event = record.event_log_entry.dagster_event
    change = event.event_specific_data if event else None
    new_state = str(getattr(getattr(change, "new_state", None), "value", ""))
    if new_state not in ("FAIL", "WARN"):
        return None
    return Alert(
        kind="freshness",
        asset=change.key.to_user_string(),
        partition="",
        what=f"freshness policy: state {change.previous_state.value} -> {new_state}",
        severity="ERROR" if new_state == "FAIL" else "WARN",
    )


def _new_check_records(instance: dg.DagsterInstance, check_key, after: int | None):
    """Finished evaluations of one check newer than ``after``, oldest first.

    The per-check execution history works on every event log storage, including
    SQLite's run-sharded one, where a global event cursor does not exist.
    """
    from resources.dagster_private import AssetCheckExecutionRecordStatus as Status

    records = instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=BATCH, status={Status.SUCCEEDED, Status.FAILED}
    )
    return sorted((r for r in records if after is None or r.id > after), key=lambda r: r.id)


def _outcome_from_check_record(record) -> CheckOutcome | None:  # noqa: ANN001
    entry = record.event
    evaluation = entry.dagster_event.event_specific_data if entry and entry.dagster_event else None
    if not isinstance(evaluation, dg.AssetCheckEvaluation):
        return None
    severity = "WARN" if evaluation.severity == AssetCheckSeverity.WARN else "ERROR"
    description = evaluation.description or ""
    if not description:
        # Check results often say what failed in their metadata only.
        texts = [
            f"{k}={v.value}"
            for k, v in evaluation.metadata.items()
            if isinstance(getattr(v, "value", None), str | int | float)
        ]
        description = ", ".join(texts[:6])
    return CheckOutcome(
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        partition=evaluation.partition or "",
        passed=evaluation.passed,
        severity=severity,
        blocking=bool(evaluation.blocking),
        run_id=record.run_id or "",
        description=description,
    )


def _new_freshness_changes(instance: dg.DagsterInstance, key: dg.AssetKey, after: int | None):
    # The event log storage's query: DagsterInstance.get_event_records is deprecated in 1.13
    # and has no fetch_* replacement for freshness state changes.
    records = instance.event_log_storage.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.FRESHNESS_STATE_CHANGE, asset_key=key),
        limit=20,
        ascending=False,
    )
    return sorted(
        (r for r in records if after is None or r.storage_id > after), key=lambda r: r.storage_id
    )


def build_check_alert_sensor(name: str, minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts (resource `alerts`) on failed asset checks of this code location: blocking "
            "checks, WARN checks (Rt jumps), and freshness (once per failure)."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, alerts: AlertsResource):
        state = json.loads(context.cursor) if context.cursor else {}
        graph = context.repository_def.asset_graph
        check_ids: dict[str, int] = state.get("checks") or {}
        fresh_ids: dict[str, int] = state.get("freshness") or {}
        failing = set(state.get("failing", []))

        outcomes = []
        for check_key in sorted(graph.asset_check_keys, key=str):
            ident = check_key.to_user_string()
            for record in _new_check_records(context.instance, check_key, check_ids.get(ident)):
                check_ids[ident] = record.id
                outcome = _outcome_from_check_record(record)
                if outcome is not None:
                    outcomes.append(outcome)
        to_send, failing = alerts_for_outcomes(outcomes, failing)

        for key in sorted(graph.get_all_asset_keys(), key=str):
            ident = key.to_user_string()
            for record in _new_freshness_changes(context.instance, key, fresh_ids.get(ident)):
                fresh_ids[ident] = record.storage_id
                alert = _freshness_alert(record)
                if alert is not None:
                    to_send.append(alert)

        for alert in to_send:
            alerts.send(alert)
            context.log.info(f"alert sent: {alert.title()}")
        context.update_cursor(
            json.dumps({"checks": check_ids, "freshness": fresh_ids, "failing": sorted(failing)})
        )
        return dg.SkipReason("no new failed check") if not to_send else None

    return _sensor


def first_cause(failure_data) -> str:  # noqa: ANN001 (dagster's StepFailureData)
    """What made a step fail, in one line: a ``Failure``'s own description, else the
    innermost exception of the chain (the IO manager's or the asset's error, not
    "Exceeded max_retries of 2"), followed by the outer message when that differs."""
    user = getattr(failure_data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip().splitlines()[0]
    error = getattr(failure_data, "error", None)
    if error is None:
        return ""
    outer = (error.message or "").strip().splitlines()[:1]
    inner = error
    while inner.cause is not None:
        inner = inner.cause
    text = (inner.message or "").strip().splitlines()[:1]
    if inner is not error and outer and outer != text:
        return f"{text[0] if text else inner.cls_name} ({outer[0]})"
    return outer[0] if outer else error.cls_name or ""


def assets_by_step(repository_def) -> dict[str, list[str]]:  # noqa: ANN001
    """The asset keys each step (op) of the code location materializes."""
    if repository_def is None:
        return {}
    out: dict[str, list[str]] = {}
    graph = repository_def.asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            out.setdefault(node.assets_def.node_def.name, []).append(key.to_user_string())
    return out


def run_failure_alert(
    run: dg.DagsterRun,
    step_failures: list[tuple[str, str]],
    message: str,
    step_assets: dict[str, list[str]] | None = None,
) -> Alert:
    """The alert for a failed run: the failed steps' assets (else the run's), the partition
    (or range), the failed steps and their first causes."""
    assets = sorted(k.to_user_string() for k in (run.asset_selection or []))
    failed_assets = {a for step, _ in step_failures for a in (step_assets or {}).get(step, [])}
    if failed_assets:
        assets = sorted(failed_assets)
    tags = run.tags
    partition = tags.get("dagster/partition", "")
    if not partition and "dagster/asset_partition_range_start" in tags:
        partition = (
            f"{tags['dagster/asset_partition_range_start']}.."
            f"{tags.get('dagster/asset_partition_range_end', '')}"
        )
    if step_failures:
        what = "; ".join(f"step {step} failed: {error}" for step, error in step_failures[:5])
    else:
        what = message or "run failed"
    return Alert(
        kind="run_failure",
        asset=", ".join(assets) if assets else run.job_name,
        partition=partition,
        what=what,
        run_id=run.run_id,
        extra={"job": run.job_name},
    )


def build_run_failure_alert_sensor(name: str) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Alerts (resource `alerts`) on every failed run of this code location.",
    )
    def _sensor(context: dg.RunFailureSensorContext, alerts: AlertsResource):
        failures = []
        for event in context.get_step_failure_events():
            cause = first_cause(event.event_specific_data)
            # A pod that died says nothing itself: add what Kubernetes says (OOMKilled ...).
            if pods := explain_step_failure(cause):
                cause = f"{cause} Kubernetes: {pods}"
            failures.append((event.step_key or "?", cause[:600]))
        try:
            repository_def = context.repository_def
        except Exception:  # a context built without one (tests, older callers)
            repository_def = None
        alert = run_failure_alert(
            context.dagster_run,
            failures,
            context.failure_event.message or "",
            assets_by_step(repository_def),
        )
        alerts.send(alert)
        context.log.info(f"alert sent: {alert.title()}")

    return _sensor
