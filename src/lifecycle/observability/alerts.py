"""Alerts routed to owners: ``alerts.yml`` says which owner hears on which channel; every message is also
appended to the outbox (``alerts/outbox.jsonl`` under the data directory), whatever else it went to.

The webhook gets Slack-compatible JSON (``text`` plus ``blocks``), which Slack, Mattermost and most chat
tools accept. A channel that cannot be reached never fails the run: the outbox line records the error.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from lifecycle.config import Settings, read_yaml
from lifecycle.errors import LifecycleError

Kind = Literal["opened", "resolved"]
CHANNELS = ("webhook",)
#: Seconds a webhook may take to answer before the alert counts as undelivered there.
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Monitoring:
    sensitivity: float = 3.0
    training_runs: int = 56
    min_training_runs: int = 7
    seasonality: Literal["day_of_week", "none"] = "day_of_week"
    anomalous_runs: int = 2


@dataclass(frozen=True)
class AlertConfig:
    """``alerts.yml``, read and checked."""

    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_channels: tuple[str, ...] = ("webhook",)
    alert_severities: tuple[str, ...] = ("critical",)
    monitors: bool = True
    open_after_failed_runs: int = 1
    monitoring: Monitoring = Monitoring()

    def channels(self, owner: str) -> tuple[str, ...]:
        return self.owners.get(owner, self.default_channels)


def load_config(path: Path) -> AlertConfig:
    """Read ``alerts.yml``; an unknown key, channel or value fails naming the file and the field."""
    if not path.exists():
        return AlertConfig()
    data = read_yaml(path) or {}
    known = {
        "owners",
        "default_channels",
        "alert_severities",
        "monitors",
        "open_after_failed_runs",
        "monitoring",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise LifecycleError(f"{path}: unknown field(s) {unknown}; expected some of {sorted(known)}")

    def channels(where: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or any(c not in CHANNELS for c in value):
            raise LifecycleError(
                f"{path}: {where} must be a list of channels from {list(CHANNELS)}, got {value!r}"
            )
        return tuple(value)

    owners = data.get("owners") or {}
    if not isinstance(owners, dict):
        raise LifecycleError(f"{path}: owners must map owner names to channel lists")
    monitoring = data.get("monitoring") or {}
    try:
        watch = Monitoring(**monitoring)
    except TypeError as error:
        raise LifecycleError(f"{path}: monitoring: {error}") from error
    if watch.seasonality not in ("day_of_week", "none"):
        raise LifecycleError(f"{path}: monitoring.seasonality must be day_of_week or none")
    opens = data.get("open_after_failed_runs", 1)
    if not isinstance(opens, int) or opens < 1:
        raise LifecycleError(f"{path}: open_after_failed_runs must be a whole number ≥ 1, got {opens!r}")
    return AlertConfig(
        owners={str(o): channels(f"owners.{o}", c) for o, c in owners.items()},
        default_channels=channels("default_channels", data.get("default_channels", ["webhook"])),
        alert_severities=tuple(data.get("alert_severities", ["critical"])),
        monitors=bool(data.get("monitors", True)),
        open_after_failed_runs=opens,
        monitoring=watch,
    )


def config(settings: Settings) -> AlertConfig:
    return load_config(settings.project_dir / "alerts.yml")


@dataclass(frozen=True)
class Alert:
    """One message about one incident: it opened, or it was resolved."""

    kind: Kind
    incident_id: str
    check: str
    owner: str
    severity: str
    rule: str
    sample: str
    runbook: str
    link: str
    run_id: str
    at: str
    failing_runs: int = 1

    def text(self) -> str:
        if self.kind == "resolved":
            return (
                f":white_check_mark: RESOLVED {self.check} (owner {self.owner}) passed again in run "
                f"{self.run_id} after {self.failing_runs} failing run(s). {self.link}"
            )
        return (
            f":rotating_light: {self.severity.upper()} {self.check} failed (owner {self.owner}) in run "
            f"{self.run_id}. Rule: {self.rule}. Sample: {self.sample}. Runbook: {self.runbook or 'none'}. "
            f"{self.link}"
        )

    def slack(self) -> dict[str, Any]:
        """The webhook body: Slack's ``text`` (notifications, other tools) and ``blocks`` (layout)."""
        fields = [
            ("Owner", self.owner),
            ("Severity", self.severity),
            ("Run", self.run_id),
            ("Incident", self.incident_id),
        ]
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ("Resolved: " if self.kind == "resolved" else "Failing: ") + self.check[:130],
                },
            },
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        ]
        if self.kind == "opened":
            blocks += [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Rule*\n{self.rule[:2900]}"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Sample*\n{self.sample[:2900]}"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Runbook*\n{self.runbook[:2900]}"}},
            ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{self.link}|Incident page>"}})
        return {"text": self.text(), "blocks": blocks}


def send(settings: Settings, alerts: list[Alert], routing: AlertConfig) -> None:
    """Deliver each alert to its owner's channels and append it to the outbox with what happened there."""
    if not alerts:
        return
    outbox = settings.alerts_outbox_path
    outbox.parent.mkdir(parents=True, exist_ok=True)
    with outbox.open("a", encoding="utf-8") as lines:
        for alert in alerts:
            delivered: dict[str, str] = {}
            for channel in routing.channels(alert.owner):
                if channel == "webhook":
                    delivered["webhook"] = _post(settings.alert_webhook_url, alert.slack())
            record = {**asdict(alert), "channels": delivered, "logged_at": _now()}
            lines.write(json.dumps(record, sort_keys=True) + "\n")


def _post(url: str | None, body: dict[str, Any]) -> str:
    if not url:
        return "skipped: LIFECYCLE_ALERT_WEBHOOK_URL is not set"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return f"delivered: HTTP {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return f"failed: {error}"


def read_outbox(settings: Settings) -> list[dict[str, Any]]:
    path = settings.alerts_outbox_path
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
