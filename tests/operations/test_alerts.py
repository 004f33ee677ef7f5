"""The alerts resource against a real HTTP server on 127.0.0.1 (Slack API and webhook)."""

import pytest

from resources.alerts import Alert, AlertDeliveryError, AlertsResource

ALERT = Alert(
    kind="blocking_check",
    asset="rt/inference",
    partition="2021-01-15|NY",
    what="check rt/inference:converged failed: r_hat 1.23 > 1.1",
    run_id="abc123",
    details="max r_hat 1.23 on r_t",
)


def test_slack_mode_posts_chat_message(capture_server, alert_env):
    alerts = AlertsResource(
        slack_token=capture_server.valid_token,
        slack_channel="#rt-alerts",
        slack_api_url=capture_server.url + "/api/",
        ui_url="http://dagster.example:3000",
    )
    assert alerts.resolved_mode() == "slack"
    text = alerts.send(ALERT)

    assert len(capture_server.requests) == 1
    request = capture_server.requests[0]
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == "Bearer xoxb-test-token"
    assert request.body["channel"] == "#rt-alerts"
    posted = request.body["text"]
    assert posted == text
    assert "rt/inference" in posted
    assert "2021-01-15|NY" in posted
    assert "r_hat 1.23 > 1.1" in posted
    assert "http://dagster.example:3000/runs/abc123" in posted


def test_slack_mode_from_environment_and_refusal_raises(capture_server, alert_env):
    alert_env.setenv("SLACK_TOKEN", "xoxb-wrong")
    alert_env.setenv("SLACK_CHANNEL", "#ops")
    alert_env.setenv("SLACK_API_URL", capture_server.url + "/api")
    with pytest.raises(AlertDeliveryError, match="invalid_auth"):
        AlertsResource().send(ALERT)
    assert capture_server.requests[0].body["channel"] == "#ops"


def test_webhook_mode_posts_json(capture_server, alert_env):
    alert_env.setenv("ALERT_WEBHOOK_URL", capture_server.url + "/hooks/rt")
    alert_env.setenv("DAGSTER_UI_URL", "http://ui.local/")
    alerts = AlertsResource()
    assert alerts.resolved_mode() == "webhook"
    alerts.send(
        Alert(
            kind="freshness",
            asset="lake/warehouse_delay_table",
            partition="2013",
            what="not updated in the last 36 hours",
            severity="WARN",
        )
    )
    (request,) = capture_server.requests
    assert request.path == "/hooks/rt"
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert body["alert"]["asset"] == "lake/warehouse_delay_table"
    assert body["alert"]["partition"] == "2013"
    assert body["alert"]["severity"] == "WARN"
    assert "not updated in the last 36 hours" in body["text"]
    # No run behind a freshness failure: the message links the asset page instead.
    assert "http://ui.local/assets/lake/warehouse_delay_table" in body["text"]


def test_webhook_unreachable_names_the_host_not_the_secret_path(alert_env):
    # A Slack incoming webhook's path is its key: the error shows scheme and host only.
    url = "http://127.0.0.1:9/services/T0001/B0002/keyPartOfTheUrl"
    alerts = AlertsResource(webhook_url=url, timeout_s=2)
    with pytest.raises(AlertDeliveryError) as raised:
        alerts.send(ALERT)
    message = str(raised.value)
    expected = "webhook http://127.0.0.1:9/... unreachable: ConnectionError"
    assert message.startswith(expected), message
    assert "keyPartOfTheUrl" not in message and "/services/" not in message, message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_log_mode_without_destination(alert_env, caplog):
    alerts = AlertsResource()
    assert alerts.resolved_mode() == "log"
    text = alerts.send(ALERT)
    assert "rt/inference" in caplog.text
    assert "http://127.0.0.1:3000/runs/abc123" in text


def test_bad_mode_is_a_clear_error(alert_env):
    with pytest.raises(ValueError, match="alert mode must be one of"):
        AlertsResource(mode="pager").resolved_mode()
