"""Engine-side webhook throughput: handshake check, HMAC over the raw body, ids and routing.

    .venv/bin/python bench/webhook_verify.py [--seconds 2]

Measures ``WebhookProcessor.verify_and_route`` alone (no HTTP, no store) for a GitHub-style
delivery of about 13 KB and for a 50-item batch routed item by item. The durable intake
(store + commit before the 2xx) is measured by the runtime's own benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from engine.spec.models import ProviderSpec
from engine.strategies import default_registry
from engine.templating import Templates
from engine.webhooks import InboundRequest, WebhookProcessor

SECRET = "bench-secret"
BASE = {
    "name": "bench",
    "title": "Bench",
    "category": "work_tracking",
    "base_url": "https://api.bench.test",
    "auth_modes": {},
    "test_connection": {"request": {"path": "/me"}, "identity_path": "id"},
    "streams": {},
}
SINGLE = {
    "secret_field": "webhookSecret",
    "signature": {"type": "hmac", "header": "X-Hub-Signature-256", "prefix": "sha256="},
    "delivery_id": "{{ headers['X-GitHub-Delivery'] }}",
    "event_type": "{{ headers['X-GitHub-Event'] }}",
    "events": [
        {"name": "ping", "match": "{{ event_type == 'ping' }}", "action": "ack"},
        {
            "name": "issue",
            "match": "{{ event_type == 'issues' }}",
            "stream": "issues",
            "records": "{{ payload.issue }}",
        },
    ],
}
BATCH = {
    "secret_field": "webhookSecret",
    "signature": {"type": "hmac", "header": "X-Hook-Signature"},
    "delivery_id": "{{ body | sha256 }}",
    "batch": "{{ payload.events }}",
    "events": [
        {
            "name": "task",
            "match": "{{ event.resource.resource_type == 'task' }}",
            "stream": "tasks",
            "records": "{{ event.resource }}",
            "action": "refetch",
        }
    ],
}


class _Provider:
    def __init__(self, webhooks: dict[str, object]) -> None:
        context = {"registry": default_registry()}
        self.spec = ProviderSpec.model_validate({**BASE, "webhooks": webhooks}, context=context)
        self.templates = Templates()


def _signed(body: bytes, header: str, prefix: str, **headers: str) -> InboundRequest:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    all_headers = {"Content-Type": "application/json", header: prefix + digest, **headers}
    return InboundRequest.build("POST", "https://kiro.test/webhooks/i", all_headers, body)


def _issue_delivery() -> InboundRequest:
    issue = {"id": 1, "number": 1347, "title": "Found a bug", "body": "x" * 4000}
    payload = {"action": "opened", "issue": issue, "repository": {"description": "y" * 8000}}
    body = orjson.dumps(payload, option=orjson.OPT_INDENT_2)
    return _signed(
        body,
        "X-Hub-Signature-256",
        "sha256=",
        **{"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d"},
    )


def _batch_delivery() -> InboundRequest:
    events = [
        {"action": "changed", "resource": {"gid": str(i), "resource_type": "task"}}
        for i in range(50)
    ]
    return _signed(orjson.dumps({"events": events}), "X-Hook-Signature", "")


def _rate(run: Callable[[], object], seconds: float) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += 1
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    seconds = parser.parse_args().seconds
    now = datetime.now(UTC)
    cases = [
        ("single 13 KB delivery", WebhookProcessor(_Provider(SINGLE)), _issue_delivery()),
        ("50-item batch", WebhookProcessor(_Provider(BATCH)), _batch_delivery()),
    ]
    for name, processor, request in cases:
        outcome = processor.verify_and_route(request, SECRET, now)
        assert outcome.kind == "accepted", outcome.reason
        count, elapsed = _rate(
            lambda p=processor, r=request: p.verify_and_route(r, SECRET, now), seconds
        )
        per, size = elapsed / count * 1e6, len(request.body)
        print(f"{name:>24}: {count / elapsed:9.0f} deliveries/s ({per:.0f} µs each, {size} B)")


if __name__ == "__main__":
    main()
