"""How each method type is sent: the bodies (pure functions) and the transports.

WEBHOOK posts Monasca's JSON (monasca-notification's webhook notifier) plus
``idempotency_key``; SLACK posts ``{"text": ...}`` (Slack and Mattermost incoming
webhooks); PAGERDUTY posts an Events API v2 event; EMAIL goes over SMTP. Any 2xx
answer is success; anything else raises ``DeliveryError``.
"""

from __future__ import annotations

import asyncio
import datetime
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
import orjson

from nephoscope.notify.model import AlarmTransition, Delivery, NotifySettings

PAGERDUTY_SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info"}


class DeliveryError(Exception):
    """One attempt failed; the message says why (kept as the delivery's last error)."""


def _metrics(transition: AlarmTransition) -> list[dict]:
    return [{"name": m.get("name"), "dimensions": m.get("dimensions") or {}} for m in transition.metrics]


def _hostnames(transition: AlarmTransition) -> list[str]:
    hosts = [str((m.get("dimensions") or {}).get("hostname")) for m in transition.metrics
             if (m.get("dimensions") or {}).get("hostname")]
    return list(dict.fromkeys(hosts))


def _metric_text(metric: dict) -> str:
    dimensions = metric.get("dimensions") or {}
    inside = ", ".join(f"{k}={v}" for k, v in sorted(dimensions.items()))
    return f"{metric.get('name')}{{{inside}}}"


def webhook_body(transition: AlarmTransition, key: str) -> dict:
    return {
        "alarm_id": transition.alarm_id,
        "alarm_definition_id": transition.alarm_definition_id,
        "alarm_name": transition.alarm_name,
        "alarm_description": transition.alarm_description,
        "alarm_timestamp": transition.timestamp_ms // 1000,
        "state": transition.new_state,
        "old_state": transition.old_state,
        "message": transition.reason,
        "tenant_id": transition.tenant_id,
        "metrics": _metrics(transition),
        "idempotency_key": key,
    }


def slack_body(transition: AlarmTransition) -> dict:
    lines = [f"*{transition.new_state}* ({transition.severity}) \"{transition.alarm_name}\" "
             f"— was {transition.old_state}"]
    if transition.reason:
        lines.append(transition.reason)
    if transition.metrics:
        lines.append("Metrics: " + "; ".join(_metric_text(m) for m in transition.metrics))
    if transition.alarm_description:
        lines.append(transition.alarm_description)
    if transition.link:
        lines.append(transition.link)
    lines.append(f"alarm {transition.alarm_id}, project {transition.tenant_id}")
    return {"text": "\n".join(lines)}


def pagerduty_body(transition: AlarmTransition, routing_key: str) -> dict:
    hosts = _hostnames(transition)
    body = {
        "routing_key": routing_key,
        "event_action": "resolve" if transition.new_state == "OK" else "trigger",
        "dedup_key": transition.alarm_id,
        "client": "Nephoscope",
        "payload": {
            "summary": email_subject(transition)[:1024],
            "source": hosts[0] if hosts else "nephoscope",
            "severity": PAGERDUTY_SEVERITY.get(transition.severity.upper(), "warning"),
            "timestamp": _iso(transition.timestamp_ms),
            "custom_details": {
                "alarm_id": transition.alarm_id,
                "alarm_definition_id": transition.alarm_definition_id,
                "alarm_name": transition.alarm_name,
                "state": transition.new_state,
                "old_state": transition.old_state,
                "message": transition.reason,
                "tenant_id": transition.tenant_id,
                "metrics": _metrics(transition),
            },
        },
    }
    if transition.link:
        body["client_url"] = transition.link
        body["links"] = [{"href": transition.link, "text": "alarm"}]
    return body


def _iso(timestamp_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def email_subject(transition: AlarmTransition) -> str:
    subject = f"{transition.new_state} {transition.severity} \"{transition.alarm_name}\""
    hosts = _hostnames(transition)
    if hosts:
        return f"{subject} for hostname: {', '.join(hosts)}"
    dimensions = sorted({f"{k}={v}" for m in transition.metrics for k, v in (m.get("dimensions") or {}).items()})
    return f"{subject} for dimensions: {', '.join(dimensions)}" if dimensions else subject


def email_text(transition: AlarmTransition) -> str:
    lines = [
        f"Alarm: {transition.alarm_name}",
        f"State: {transition.new_state} (was {transition.old_state})",
        f"Severity: {transition.severity}",
        f"Reason: {transition.reason}",
        f"Time: {_iso(transition.timestamp_ms)}",
        f"Alarm id: {transition.alarm_id}",
        f"Definition id: {transition.alarm_definition_id}",
        f"Project: {transition.tenant_id}",
    ]
    if transition.alarm_description:
        lines.append(f"Description: {transition.alarm_description}")
    if transition.link:
        lines.append(f"Link: {transition.link}")
    if transition.metrics:
        lines.append("Metrics:")
        lines.extend(f"  {_metric_text(m)}" for m in transition.metrics)
    return "\n".join(lines) + "\n"


class Senders:
    """The transports, sharing one HTTP client."""

    def __init__(self, config: NotifySettings) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.webhook_timeout, follow_redirects=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, delivery: Delivery) -> None:
        transition, kind = delivery.transition, delivery.method_type
        if kind == "WEBHOOK":
            await self._post(delivery.address, webhook_body(transition, delivery.idempotency_key), delivery)
        elif kind == "SLACK":
            await self._post(delivery.address, slack_body(transition), delivery)
        elif kind == "PAGERDUTY":
            await self._post(self.config.pagerduty_url, pagerduty_body(transition, delivery.address), delivery)
        elif kind == "EMAIL":
            await asyncio.to_thread(self._send_email, delivery)
        else:
            raise DeliveryError(f"no sender for method type {kind}")

    async def _post(self, url: str, body: dict, delivery: Delivery) -> None:
        await self.open()
        assert self._client is not None
        headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.idempotency_key}
        try:
            response = await self._client.post(url, content=orjson.dumps(body), headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer from {url} within {self.config.webhook_timeout} s") from None
        except httpx.HTTPError as error:
            raise DeliveryError(f"{url}: {type(error).__name__}: {error}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")

    def _send_email(self, delivery: Delivery) -> None:
        config, transition = self.config, delivery.transition
        message = EmailMessage()
        message["Subject"] = email_subject(transition)
        message["From"] = config.smtp_from
        message["To"] = delivery.address
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="nephoscope")
        message["X-Nephoscope-Idempotency-Key"] = delivery.idempotency_key
        message.set_content(email_text(transition))
        try:
            with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout) as smtp:
                if config.smtp_starttls:
                    smtp.starttls()
                if config.smtp_user:
                    smtp.login(config.smtp_user, config.smtp_password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP {config.smtp_host}:{config.smtp_port}: {type(error).__name__}: {error}") from None
