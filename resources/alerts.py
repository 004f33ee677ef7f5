"""Alerts: one resource that posts a message to Slack (through dagster-slack) or a webhook.

Where alerts go is configuration, read when an alert is sent (never at import):

- ``SLACK_TOKEN`` + ``SLACK_CHANNEL``: Slack's ``chat.postMessage`` through
  ``dagster_slack.SlackResource``. ``SLACK_API_URL`` overrides Slack's base URL
  (tests point it at a server on 127.0.0.1).
- ``ALERT_WEBHOOK_URL``: a JSON POST ``{"text": ..., "alert": {...}}`` to any
  webhook (Slack incoming webhooks, Teams/Mattermost bridges, a pager).
- neither: the alert is only written to the log, so a laptop demo never fails
  for want of a Slack workspace.

``DAGSTER_UI_URL`` (default ``http://127.0.0.1:3000``, read by
``resources.settings.dagster_ui_url``) is the base of the run links in every
message: set it to the webserver's address as people open it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
import requests

from resources import settings
from resources.redaction import masked_in_library_logs, redact, shown_url
from resources.settings import ALERT_MODES, dagster_ui_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """What went wrong, where, and where to look."""

    kind: str  # run_failure | freshness | blocking_check | check_warning | ...
    asset: str  # asset key as a user string, e.g. "rt/inference" ("" when a whole run)
    partition: str  # partition key, e.g. "2021-01-15|NY" ("" when unpartitioned)
    what: str  # one line: what failed
    run_id: str = ""
    severity: str = "ERROR"
    details: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def title(self) -> str:
        where = self.asset or "run"
        if self.partition:
            where += f" [{self.partition}]"
        return f"{self.severity} {self.kind}: {where}"


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def asset_url(ui_url: str, asset: str) -> str:
    return f"{ui_url.rstrip('/')}/assets/{asset.strip('/')}"


def format_alert(alert: Alert, ui_url: str) -> str:
    """The message text: plain Markdown that reads well in Slack and in a log."""
    lines = [f"*{alert.title()}*", f"Asset: `{alert.asset or '-'}`"]
    lines.append(f"Partition: `{alert.partition or '-'}`")
    lines.append(f"What failed: {alert.what}")
    if alert.details:
        # Slack truncates very long messages; the run page has the rest.
        details = alert.details if len(alert.details) <= 1500 else alert.details[:1500] + " ..."
        lines.append(f"```{details}```")
    if alert.run_id:
        lines.append(f"Run: {run_url(ui_url, alert.run_id)}")
    elif alert.asset:
        lines.append(f"Asset: {asset_url(ui_url, alert.asset)}")
    for key, value in sorted(alert.extra.items()):
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


class AlertDeliveryError(RuntimeError):
    pass


class AlertsResource(dg.ConfigurableResource):
    """Posts alerts to Slack or a webhook; empty fields fall back to the environment."""

    mode: str = ""  # slack | webhook | log; empty: slack if a token is set, else webhook, else log
    webhook_url: str = ""  # ALERT_WEBHOOK_URL
    slack_token: str = ""  # SLACK_TOKEN
    slack_channel: str = ""  # SLACK_CHANNEL
    slack_api_url: str = ""  # SLACK_API_URL, default Slack's
    ui_url: str = ""  # DAGSTER_UI_URL (resources.settings.dagster_ui_url)
    timeout_s: float = 10.0

    def _setting(self, value: str, setting: settings.Setting[str]) -> str:
        return value or settings.get(setting)

    def resolved_mode(self) -> str:
        mode = self._setting(self.mode, settings.ALERT_MODE).lower()
        if mode:
            if mode not in ALERT_MODES:
                raise ValueError(f"alert mode must be one of {ALERT_MODES}, got {mode!r}")
            return mode
        if self._setting(self.slack_token, settings.SLACK_TOKEN):
            return "slack"
        if self._setting(self.webhook_url, settings.ALERT_WEBHOOK_URL):
            return "webhook"
        return "log"

    def resolved_ui_url(self) -> str:
        return (self.ui_url or dagster_ui_url()).rstrip("/")

    def send(self, alert: Alert) -> str:
        """Deliver ``alert``; returns the text sent. Raises AlertDeliveryError on failure."""
        text = format_alert(alert, self.resolved_ui_url())
        mode = self.resolved_mode()
        logger.warning("alert (%s): %s", mode, text.replace("\n", " | "))
        if mode == "slack":
            self._post_slack(text)
        elif mode == "webhook":
            self._post_webhook(text, alert)
        return text

    def _post_slack(self, text: str) -> None:
        from dagster_slack import SlackResource

        token = self._setting(self.slack_token, settings.SLACK_TOKEN)
        channel = self._setting(self.slack_channel, settings.SLACK_CHANNEL)
        if not token or not channel:
            raise AlertDeliveryError("Slack alerts need SLACK_TOKEN and SLACK_CHANNEL")
        client = SlackResource(token=token).get_client()
        base = self._setting(self.slack_api_url, settings.SLACK_API_URL)
        client.base_url = base if base.endswith("/") else base + "/"
        client.timeout = int(self.timeout_s)
        try:
            with masked_in_library_logs(token):
                response = client.chat_postMessage(channel=channel, text=text, mrkdwn=True)
        except Exception as exc:  # slack_sdk raises SlackApiError / URLError
            # No secret in the message, and no cause: a sensor's tick log stores the chain.
            reason = redact(f"{type(exc).__name__}: {exc}", token)
            raise AlertDeliveryError(f"Slack chat.postMessage failed: {reason}") from None
        if not response.get("ok", False):
            refusal = redact(str(response.get("error")), token)
            raise AlertDeliveryError(f"Slack chat.postMessage refused: {refusal}")

    def _post_webhook(self, text: str, alert: Alert) -> None:
        url = self._setting(self.webhook_url, settings.ALERT_WEBHOOK_URL)
        payload: dict[str, Any] = {"text": text, "alert": asdict(alert)}
        if alert.run_id:
            payload["alert"]["run_url"] = run_url(self.resolved_ui_url(), alert.run_id)
        try:
            with masked_in_library_logs(url):
                response = requests.post(url, json=payload, timeout=self.timeout_s)
        except requests.RequestException as exc:
            # The URL is the secret and requests repeats it; no cause (see _post_slack).
            reason = redact(f"{type(exc).__name__}: {exc}", url)
            raise AlertDeliveryError(f"webhook {shown_url(url)} unreachable: {reason}") from None
        if response.status_code >= 300:
            answer = redact(response.text[:200], url)
            raise AlertDeliveryError(
                f"webhook {shown_url(url)} answered {response.status_code}: {answer}"
            )
