"""Backfills as a user runs them, through a real dagster-webserver + dagster-daemon, their
pages opened in headless Chromium (screenshots in ``test-artifacts/``).

- From the rt group's asset graph, Materialize all, two dates x two states from nothing:
  one backfill takes the snapshot, counts, model and summary of exactly those states and
  publishes both dates; the checks are recorded per partition; the re-run command asked
  for the same dates and states targets the same partitions (it is launched through its
  CLI, its target read, and cancelled).
- A backfill whose upstream partition does not exist (``rt/inference`` for one date x two
  states from the asset's Materialize dialog, the counts never made: the issue's case)
  fails at once and says why. ``rt/inference`` keeps its heavy retry policy (two retries,
  60 s backoff and more); the missing input must not go through it. The backfill page the
  re-run command links and the run page show it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import dagster as dg
import pytest

from rt_assets.rerun import DagsterGraphQL, backfill_url
from tests.fixtures.dagster_server import REPO_ROOT

pytestmark = [pytest.mark.services, pytest.mark.browser, pytest.mark.slow]

DATE, UI_STATES = "2020-06-10", ["NH", "VT"]
MESSAGE = "missing upstream partition: rt/processed_counts"


def backfill_run_partition(tags: dict) -> str:
    """A backfill run's partition, or its batch of partitions ``first..last``: the date|state
    assets' backfill policy gives every run a range (rt_assets/partitions.py)."""
    start, end = (tags.get(f"dagster/asset_partition_range_{e}") for e in ("start", "end"))
    if start is None:
        return tags.get("dagster/partition", "")
    return start if start == end else f"{start}..{end}"


def _dismiss_community_dialog(browser, seconds: float = 0) -> None:
    """First visit: a "Join the Dagster community" dialog covers the page, sometimes late."""
    settle = time.monotonic() + seconds
    while True:
        for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
            button.click()
        if time.monotonic() >= settle:
            return
        time.sleep(0.5)


def _wait_for_text(browser, texts: list[str], timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        _dismiss_community_dialog(browser)
        body = browser.find_element("tag name", "body").text
        if all(text in body for text in texts):
            return body
        time.sleep(1)
    missing = [t for t in texts if t not in body]
    raise AssertionError(f"{browser.current_url} never showed {missing}; it shows:\n{body[:3000]}")


def _find(browser, by: str, selector: str, timeout_s: float = 30):
    """The element, once the page (slow on busy shared cores) has drawn it."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = browser.find_elements(by, selector)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} not on {browser.current_url} after {timeout_s} s")
        time.sleep(0.5)


def launch_from_materialize_dialog(
    browser, page: str, dates: str, states: list[str], expect: str | None = None
):
    """On ``page`` (an asset's page, or the asset graph of a group), as a person does it:
    Materialize (or Materialize all; confirming the "upstream not materialized"
    question), the dates typed, the states ticked. Returns the dialog's text; the caller
    clicks Launch backfill."""
    from selenium.webdriver.common.keys import Keys

    browser.get(page)
    _wait_for_text(browser, ["Materialize"])
    _dismiss_community_dialog(browser, seconds=5)
    _find(browser, "xpath", "//button[starts-with(normalize-space(), 'Materialize')]").click()
    # "Are you sure? ... upstream assets ... have not been materialized yet."
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not browser.find_elements(
        "css selector", "input[placeholder^='ex: ']"
    ):
        for button in browser.find_elements("xpath", "//button[normalize-space()='Confirm']"):
            button.click()
        time.sleep(0.5)
    date_input = browser.find_element("css selector", "input[placeholder^='ex: ']")
    date_input.click()
    date_input.send_keys(dates, Keys.ENTER)
    browser.find_element(
        "xpath", "//*[normalize-space()='Select a partition or create one']"
    ).click()
    for code in states:
        search = _find(browser, "css selector", "input[placeholder='Filter partitions']")
        search.send_keys(Keys.CONTROL, "a")
        search.send_keys(Keys.BACKSPACE)
        search.send_keys(code)
        _find(
            browser, "xpath", f"//div[@role='menuitem'][.//*[normalize-space()='{code}']]"
        ).click()
        _find(browser, "xpath", f"//*[@role='dialog']//*[normalize-space()='{code}']")
    browser.find_element("tag name", "body").send_keys(Keys.ESCAPE)
    expect = expect or f"{len(states)} partitions"
    _wait_for_text(browser, [expect], timeout_s=30)
    dialog = browser.find_element("css selector", "[role=dialog]").text
    return dialog


def _launch_backfill(browser, server, before: set[str]):
    """Press the open dialog's Launch backfill; the one backfill it created."""
    browser.find_element("xpath", "//button[normalize-space()='Launch backfill']").click()
    deadline = time.monotonic() + 60
    new: list = []
    while not new and time.monotonic() < deadline:
        with server.instance() as instance:
            new = [b for b in instance.get_backfills() if b.backfill_id not in before]
        time.sleep(1)
    assert len(new) == 1, "the dialog launched no backfill"
    return new[0]


def test_a_backfill_from_the_dialog_without_its_upstream_fails_at_once_naming_it(
    dagster_server, browser, artifacts_dir
):
    """The issue's case: rt/inference for one date x two states whose counts do not exist."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1600, 1000)
    with dagster_server.instance() as instance:
        before = {b.backfill_id for b in instance.get_backfills()}
    dialog = launch_from_materialize_dialog(
        browser, f"{dagster_server.url}/assets/rt/inference", DATE, UI_STATES
    )
    # Both dimensions offered; the dates end where the source's coverage ends.
    assert "date" in dialog and "state" in dialog and "2021-03-08" in dialog, dialog
    assert f"{len(UI_STATES)} partitions" in dialog, dialog
    browser.save_screenshot(str(artifacts_dir / "backfill-dialog.png"))
    launched = time.monotonic()
    backfill = _launch_backfill(browser, dagster_server, before)
    backfill_id = backfill.backfill_id
    # Generous: on busy shared cores a run's processes take minutes to start.
    status = DagsterGraphQL(dagster_server.url).wait(backfill_id, timeout_s=900, poll_s=1)
    waited = time.monotonic() - launched
    assert status in {"COMPLETED_FAILED", "FAILED"}, status

    with dagster_server.instance() as instance:
        runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        # Exactly the chosen partitions; nothing downstream.
        assert sorted(backfill_run_partition(r.dagster_run.tags) for r in runs) == [
            f"{DATE}|{state}" for state in UI_STATES
        ]
        for record in runs:
            run = record.dagster_run
            assert run.status == dg.DagsterRunStatus.FAILURE
            by_type: dict[dg.DagsterEventType, list] = {}
            for entry in instance.all_logs(run.run_id):
                if entry.dagster_event:
                    by_type.setdefault(entry.dagster_event.event_type, []).append(entry)
            # Not retried: one attempt, no "up for retry" (the runs sat ~6 minutes
            # in "Started" behind two retries with 60 s and 120 s backoff).
            assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in by_type
            (started,) = by_type[dg.DagsterEventType.STEP_START]
            (failure,) = by_type[dg.DagsterEventType.STEP_FAILURE]
            # The step fails as soon as it starts; the run's other seconds are process
            # starts (the run worker and the step subprocess each import the location).
            assert failure.timestamp - started.timestamp < 10
            description = failure.dagster_event.step_failure_data.user_failure_data.description
            partition = backfill_run_partition(run.tags)
            assert f"{MESSAGE} partition {partition} is not stored" in description
            assert f"Materialize rt/processed_counts for partition {partition} first" in description
            run_seconds = record.end_time - record.start_time
            # One attempt: below the first retry's backoff alone, even with slow starts.
            assert run_seconds < 240, run_seconds
    assert waited < 900, waited

    # The link the re-run command prints opens the backfill's page (Dagster 1.13's route).
    browser.get(backfill_url(dagster_server.url, backfill_id))
    _wait_for_text(browser, [backfill_id, "Failed"])
    browser.save_screenshot(str(artifacts_dir / "backfill-missing-upstream.png"))
    browser.get(f"{dagster_server.url}/runs/{runs[0].dagster_run.run_id}")
    _wait_for_text(
        browser, ["missing upstream partition", f"rt/processed_counts partition {DATE}|"]
    )
    browser.save_screenshot(str(artifacts_dir / "run-missing-upstream.png"))


FROM_NOTHING_DATES = ["2020-06-01", "2020-06-02", "2020-06-03"]
FROM_NOTHING_STATES = ["NH", "VT"]
DATE_STATE_ASSETS = ["rt/raw_counts", "rt/processed_counts", "rt/inference", "rt/summary"]
DATE_ASSETS = [
    "rt/national_csv",
    "rt/staged_msgpack",
    "rt/published_msgpack",
    "rt/published_csv",
    "rt/site",
]


def _group_page(url: str) -> str:
    return f"{url}/locations/__repository__@rt/asset-groups/rt"


def _rerun_command_target(server, dates: list[str], states: list[str]) -> set:
    """Launch the re-run command (its CLI, as a person types it) for ``dates`` x ``states``
    from the snapshot, read the backfill's target, cancel it: what it would run."""
    command = [sys.executable, "-m", "rt_assets.rerun", "--dates", ",".join(dates)]
    command += ["--states", ",".join(states), "--from", "rt/raw_counts", "--url", server.url]
    proc = subprocess.run(
        command, cwd=REPO_ROOT, env=server.env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    match = re.search(rf"{re.escape(server.url)}/runs/b/(\w+)", proc.stdout)
    assert match, proc.stdout
    backfill_id = match.group(1)
    DagsterGraphQL(server.url).query(
        "mutation C($id: String!) { cancelPartitionBackfill(backfillId: $id) { __typename } }",
        {"id": backfill_id},
    )
    with server.instance() as instance:
        target = instance.get_backfill(backfill_id).asset_backfill_data.target_subset
        return {(k.to_user_string(), p) for k, p in target.iterate_asset_partitions()}


# A 3 x 2 backfill is five runs, each starting processes that import PyMC: on busy shared
# cores it takes longer than the suite's default timeout.
@pytest.mark.timeout(3600)
def test_one_backfill_from_the_asset_graph_runs_two_states_three_dates_from_nothing(
    dagster_server, browser, artifacts_dir
):
    """The issue's "these states, these dates, from the snapshot on": the rt group's asset
    graph, Materialize all, three dates and two states picked, one backfill. Nothing of those
    dates exists before. Each state's three dates run as one batch. It completes; every
    asset from the snapshot to the site is
    materialized for exactly those partitions and no other state; the convergence check
    is recorded per date|state, and the UI shows both. The re-run command, asked for the
    same dates and states, targets the same partitions."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1600, 1000)
    dates = FROM_NOTHING_DATES
    with dagster_server.instance() as instance:
        before = {b.backfill_id for b in instance.get_backfills()}
        for key in DATE_STATE_ASSETS + DATE_ASSETS:
            done = instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
            assert not {p for p in done if p.startswith(tuple(dates))}, key
    dialog = launch_from_materialize_dialog(
        browser,
        _group_page(dagster_server.url),
        f"[{dates[0]}...{dates[-1]}]",
        FROM_NOTHING_STATES,
        expect="Launch backfill",
    )
    browser.save_screenshot(str(artifacts_dir / "backfill-dialog-3x2.png"))
    # The anchor is the snapshot, partitioned date x state: one picker per dimension.
    assert "rt / raw_counts" in dialog and "date" in dialog and "state" in dialog, dialog
    assert "NH" in dialog and "VT" in dialog, dialog
    launched = time.monotonic()
    backfill = _launch_backfill(browser, dagster_server, before)
    backfill_id = backfill.backfill_id
    status = DagsterGraphQL(dagster_server.url).wait(backfill_id, timeout_s=3300, poll_s=2)
    took = time.monotonic() - launched
    print(f"3 x 2 backfill from nothing: {status} in {took:.0f} s")
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, dagster_server.log_tail())

    keys = [f"{d}|{s}" for d in dates for s in FROM_NOTHING_STATES]
    with dagster_server.instance() as instance:
        # The date|state assets ran in one run per state, its three dates in it (the
        # backfill policy's batch); each date's publication in a run of its own.
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        partitions = sorted(backfill_run_partition(r.tags) for r in runs)
        assert partitions == sorted(
            [*dates, *(f"{dates[0]}|{s}..{dates[-1]}|{s}" for s in FROM_NOTHING_STATES)]
        ), partitions
        for key in DATE_STATE_ASSETS:
            done = instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
            assert {p for p in done if p.startswith(tuple(dates))} == set(keys), key
        for key in DATE_ASSETS:
            done = instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
            assert {p for p in done if p.startswith(tuple(dates))} == set(dates), key
        # One convergence check result per date|state, each recorded under its partition.
        check = dg.AssetCheckKey(dg.AssetKey(["rt", "inference"]), "inference_converged")
        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=50)
        by_partition = {r.partition: r for r in history if r.run_id}
        assert set(keys) <= set(by_partition), sorted(by_partition)
        dialog_target = backfill.asset_backfill_data.target_subset
        dialog_partitions = {
            (k.to_user_string(), p) for k, p in dialog_target.iterate_asset_partitions()
        }
    published = (dagster_server.lake / "rt/published_csv" / f"{dates[0]}.csv").read_text()
    assert {line.split(",")[1] for line in published.splitlines()[1:]} == set(FROM_NOTHING_STATES)

    # The UI: the partitions page of rt/inference shows them materialized, its checks tab the
    # convergence result of each date|state.
    browser.get(f"{dagster_server.url}/runs/b/{backfill_id}")
    _wait_for_text(browser, [backfill_id, "Succeeded", f"{len(keys)} partitions", "rt / site"])
    browser.save_screenshot(str(artifacts_dir / "backfill-3x2-completed.png"))
    browser.get(f"{dagster_server.url}/assets/rt/summary?view=partitions")
    _wait_for_text(browser, [f"Materialized ({len(keys)})"])
    browser.save_screenshot(str(artifacts_dir / "summary-partitions-3x2.png"))
    browser.get(f"{dagster_server.url}/assets/rt/inference?view=checks")
    _wait_for_text(browser, ["inference_converged", "Execution history"])
    _find(browser, "xpath", "//button[normalize-space()='Execution history']").click()
    _wait_for_text(browser, ["Partition", *(f"{k}: converged" for k in keys)], timeout_s=60)
    browser.save_screenshot(str(artifacts_dir / "checks-per-partition.png"))
    _find(browser, "xpath", "//button[normalize-space()='Partitions']").click()
    _wait_for_text(browser, [f"Passed ({len(keys)})"], timeout_s=60)

    # The re-run command for the same dates and states targets the same partitions.
    assert _rerun_command_target(dagster_server, dates, FROM_NOTHING_STATES) == dialog_partitions
