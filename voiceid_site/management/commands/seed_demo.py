"""Make the local demo usable on first run: a superuser, an API access key, a demo domain and its voices.

Credentials are printed only when they are created; re-running changes nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from accounts import services as access_key_services
from accounts.models import AccessKey
from domains import services as domain_services
from voiceid_site import demo
from voiceid_site.demo import DEFAULT_ENDPOINT_URL

DEMO_ADMIN = "admin"
DEMO_API_USER = "demo-api"
# A fixed ClientToken makes the demo domain's creation idempotent across runs.
DEMO_DOMAIN_TOKEN = "voiceid-demo-domain"


class Command(BaseCommand):
    help = "Create the demo superuser, API access key, domain, enrolled callers and fraudster (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--endpoint-url",
            default=DEFAULT_ENDPOINT_URL,
            help="Where the server will listen: the commands printed for the demo call it there.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.endpoint_url = options["endpoint_url"]
        user_model = get_user_model()
        if not user_model.objects.filter(username=DEMO_ADMIN).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(DEMO_ADMIN, email="", password=password)
            self.stdout.write(self.style.SUCCESS(f"Admin user:  {DEMO_ADMIN} / {password}   (shown once)"))
        else:
            self.stdout.write(
                f"Admin user:  {DEMO_ADMIN} (password shown on first run; `manage.py changepassword admin`)"
            )

        if not AccessKey.objects.filter(user__username=DEMO_API_USER).exists():
            key, secret = access_key_services.access_key_create_for_username(
                username=DEMO_API_USER, description="demo key created by make run"
            )
            self.stdout.write(self.style.SUCCESS("API access key (shown once):"))
            self.stdout.write(f"  export AWS_ACCESS_KEY_ID={key.access_key_id}")
            self.stdout.write(f"  export AWS_SECRET_ACCESS_KEY={secret}")
        else:
            self.stdout.write(
                f"API access key: exists for {DEMO_API_USER}; issue another with "
                f"`manage.py create_access_key {DEMO_API_USER}`"
            )

        domain = domain_services.domain_create(
            name="demo",
            description="Demo domain seeded by make run",
            kms_key_id="alias/voiceid-demo",
            region="us-east-1",
            client_token=DEMO_DOMAIN_TOKEN,
        )
        self.stdout.write(f"Demo domain: {domain.domain_id} (region us-east-1)")
        for line in demo.seed_voices(domain):
            self.stdout.write(f"  {line}")
        self._explain_calls(domain.domain_id)
        self._explain_batch_job(domain.domain_id)

    def _explain_calls(self, domain_id: str) -> None:
        self.stdout.write("Demo voices: " + ", ".join(f"{v.name} ({v.description})" for v in demo.CALLERS))
        self.stdout.write("Hear it work (with the access key exported, once the server is up):")
        for voice, claim in (
            (demo.CALLERS[0], demo.CALLERS[0].name),
            (demo.STRANGER, demo.CALLERS[0].name),
            (demo.FRAUDSTER, demo.CALLERS[1].name),
        ):
            files = " ".join(str(path.relative_to(settings.BASE_DIR)) for path in voice.call_recordings())
            endpoint = (
                "" if self.endpoint_url == DEFAULT_ENDPOINT_URL else f" --endpoint-url {self.endpoint_url}"
            )
            self.stdout.write(
                f"  # {voice.description or voice.name} claiming to be {claim}:\n"
                f"  .venv/bin/python manage.py stream_call {files} "
                f"--domain {domain_id} --speaker {claim} --session call-$(date +%s){endpoint}"
            )

    def _explain_batch_job(self, domain_id: str) -> None:
        manifest = demo.write_batch_demo(settings.VOICEID_LOCAL_S3_ROOT)
        output = f"s3://{demo.DEMO_BUCKET}/output"
        self.stdout.write(
            f"Batch enrollment (docs/jobs.md): {manifest} enrolls a new caller, dave, from "
            f"{settings.VOICEID_LOCAL_S3_ROOT}/{demo.DEMO_BUCKET}/dave/:\n"
            f"  aws voice-id start-speaker-enrollment-job --endpoint-url {self.endpoint_url} --region us-east-1 "
            f"--domain-id {domain_id} --data-access-role-arn arn:aws:iam::000000000000:role/voiceid-demo "
            f"--input-data-config S3Uri={manifest} --output-data-config S3Uri={output}\n"
            f"  (then describe-speaker-enrollment-job; the output file lands in "
            f"{settings.VOICEID_LOCAL_S3_ROOT}/{demo.DEMO_BUCKET}/output/<JobId>/manifest.json.out)"
        )
