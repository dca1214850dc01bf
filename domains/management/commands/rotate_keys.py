"""`manage.py rotate_keys`: run pending key updates (re-encryption) in this process, or restart stalled ones.

Celery runs them normally; this is for operators: finishing an update by hand after an outage, or on a
deployment without a worker.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from domains import rotation
from domains.models import Domain


class Command(BaseCommand):
    help = "Run pending encryption key updates now (all, or one domain), or re-enqueue stalled ones."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--domain", help="a DomainId: run only this domain's update")
        parser.add_argument(
            "--resume-stalled",
            action="store_true",
            help="hand updates whose job went silent (worker killed) back to Celery instead",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["resume_stalled"]:
            restarted = rotation.resume_stalled()
            self.stdout.write(f"Re-enqueued {len(restarted)} stalled key update(s).")
            return
        pending = Domain.objects.filter(encryption_update_status=Domain.EncryptionUpdateStatus.IN_PROGRESS)
        if options["domain"]:
            pending = Domain.objects.filter(domain_id=options["domain"])
            if not pending.exists():
                raise CommandError(f"Domain {options['domain']} does not exist.")
        failed = 0
        for domain in pending:
            status = rotation.reencrypt(domain.pk)
            failed += status == Domain.EncryptionUpdateStatus.FAILED
            self.stdout.write(f"{domain.domain_id}: {status or 'its key was never changed'}")
        if failed:
            raise CommandError(f"{failed} key update(s) FAILED: see the domain's encryption update message.")
