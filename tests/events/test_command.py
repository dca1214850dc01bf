"""`manage.py events`: envelopes as JSON lines, and sending due deliveries without Celery."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command

from events import services
from events.models import Delivery, DetailType, Event
from tests.events.conftest import make_domain
from tests.events.receiver import Receiver

pytestmark = pytest.mark.django_db


def run(*arguments: str) -> tuple[list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("events", *arguments, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def record_events(count: int) -> list[Event]:
    domain = make_domain()
    return [
        services.event_record(domain=domain, detail_type=DetailType.SPEAKER, detail={"n": number})
        for number in range(count)
    ]


def test_tail_prints_the_latest_envelopes_oldest_first_one_json_object_a_line() -> None:
    events = record_events(5)

    lines, _ = run("--tail", "-n", "3")

    assert [json.loads(line) for line in lines] == [event.envelope for event in events[2:]]


def test_tail_after_an_event_prints_only_what_came_after_it() -> None:
    events = record_events(4)

    lines, _ = run("--after", str(events[1].event_id))
    nothing_new, _ = run("--after", str(events[3].event_id))

    assert [json.loads(line)["id"] for line in lines] == [str(event.event_id) for event in events[2:]]
    assert nothing_new == []


def test_tail_filters_by_detail_type_and_domain() -> None:
    [speaker_event] = record_events(1)
    other = make_domain("other")
    fraudster_event = services.event_record(domain=other, detail_type=DetailType.FRAUDSTER, detail={})

    by_type, _ = run("--detail-type", DetailType.FRAUDSTER)
    by_domain, _ = run("--domain", speaker_event.domain.domain_id)

    assert [json.loads(line)["id"] for line in by_type] == [str(fraudster_event.event_id)]
    assert [json.loads(line)["id"] for line in by_domain] == [str(speaker_event.event_id)]


def test_tail_after_an_unknown_event_says_so() -> None:
    with pytest.raises(CommandError, match="No event"):
        run("--after", str(uuid.uuid4()))


def test_deliver_due_sends_due_deliveries_here(receiver: Receiver) -> None:
    services.subscription_create(name="hook", url=receiver.url)
    [event] = record_events(1)

    lines, err = run("--deliver-due")

    [report] = [json.loads(line) for line in lines]
    assert report["event"] == str(event.event_id) and report["status"] == "DELIVERED"
    assert "1 delivery attempt(s) made." in err
    assert Delivery.objects.get(event=event).status == Delivery.Status.DELIVERED
    assert len(receiver.received) == 1
