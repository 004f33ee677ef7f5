import pytest

from tests.operations.http_capture import start_capture_server


@pytest.fixture
def capture_server():
    server = start_capture_server()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def alert_env(monkeypatch):
    """No alert destination from the outer environment leaks into a test."""
    for name in (
        "ALERT_MODE",
        "ALERT_WEBHOOK_URL",
        "SLACK_TOKEN",
        "SLACK_CHANNEL",
        "SLACK_API_URL",
        "DAGSTER_UI_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
