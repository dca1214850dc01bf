"""Print recorded events as JSON lines, or send due webhook deliveries now.

`manage.py events --tail [-n 20] [--after EVENT_ID] [--follow]` prints envelopes, oldest first, one JSON
object a line: a feed for scripts that poll instead of receiving webhooks. `manage.py events --deliver-due`
sends the deliveries that are due without waiting for Celery beat.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events import delivery, selectors, webhooks
from events.models import DetailType, Event


class Command(BaseCommand):
    help = (
        "Print recorded Voice ID events as JSON lines (--tail, the default), or send the webhook deliveries "
        "that are due now (--deliver-due)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--tail", action="store_true", help="Print envelopes as JSON lines (the default).")
        what.add_argument(
            "--deliver-due", action="store_true", help="Send due webhook deliveries now, without Celery."
        )
        parser.add_argument("-n", "--limit", type=int, default=20, help="At most this many events a read.")
        parser.add_argument(
            "--after",
            type=uuid.UUID,
            default=None,
            metavar="EVENT_ID",
            help="Only events recorded after this one (the `id` of the last envelope a script saw).",
        )
        parser.add_argument("--follow", action="store_true", help="Keep printing new events as they come.")
        parser.add_argument(
            "--interval", type=float, default=2.0, help="Seconds between reads with --follow."
        )
        parser.add_argument(
            "--detail-type", choices=DetailType.values, default="", help="Only this detail-type."
        )
        parser.add_argument("--domain", default="", metavar="DOMAIN_ID", help="Only this domain's events.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["deliver_due"]:
            self._deliver_due()
            return
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        after: uuid.UUID | None = options["after"]
        while True:
            try:
                events = selectors.events_after(
                    after=after,
                    limit=options["limit"],
                    detail_type=options["detail_type"],
                    domain_id=options["domain"],
                )
            except Event.DoesNotExist:
                raise CommandError(f"No event {after} is recorded (pruned, or never recorded).") from None
            for event in events:
                self.stdout.write(webhooks.envelope_body(event.envelope).decode())
            if events:
                after = events[-1].event_id
            if not options["follow"]:
                return
            self.stdout.flush()
            if not events:
                time.sleep(options["interval"])

    def _deliver_due(self) -> None:
        sent = delivery.deliveries_send_due()
        for done in sent:
            outcome = done.last_error or f"HTTP {done.last_status_code}"
            self.stdout.write(
                json.dumps(
                    {
                        "delivery": done.pk,
                        "event": str(done.event.event_id),
                        "subscription": done.subscription.name,
                        "status": done.status,
                        "attempts": done.attempts,
                        "outcome": outcome,
                    }
                )
            )
        self.stderr.write(f"{len(sent)} delivery attempt(s) made.")
