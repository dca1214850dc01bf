"""Run retention sweepers once: `manage.py sweep expire|purge|erase|all [--now 2029-01-01T00:00:00Z]`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs import sweepers
from jobs.models import SweepRun

SWEEPERS: dict[str, Callable[..., SweepRun]] = {
    "expire": sweepers.expire_speakers,
    "purge": sweepers.purge_audio,
    "erase": sweepers.erase_domains,
}


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError(value)
    # A moment without an offset is read in TIME_ZONE (UTC), like every stored timestamp.
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Run the retention sweepers once, as Celery beat does on its schedule, and print what they did. "
        "`all` runs expire, purge and erase in turn."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sweeper", choices=[*SWEEPERS, "all"])
        parser.add_argument(
            "--now",
            type=_moment,
            default=None,
            help="Judge ages as if it were this moment (ISO 8601, UTC unless an offset is given).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = list(SWEEPERS) if options["sweeper"] == "all" else [options["sweeper"]]
        failed = []
        for name in names:
            try:
                run = SWEEPERS[name](now=options["now"])
            except Exception as error:
                # The SweepRun already records the failure; the other sweepers still get their turn.
                self.stderr.write(f"{name}: failed: {type(error).__name__}: {error}")
                failed.append(name)
                continue
            counts = ", ".join(f"{key}={value}" for key, value in run.counts.items())
            seconds = run.duration.total_seconds() if run.duration else 0.0
            self.stdout.write(f"{name}: {counts} ({seconds:.2f} s)")
        if failed:
            raise CommandError(f"Sweep failed: {', '.join(failed)}. See the sweep runs in the admin.")
