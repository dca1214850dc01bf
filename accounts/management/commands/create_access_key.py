"""Issue an API access key: `manage.py create_access_key USERNAME [--json]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts import services


class Command(BaseCommand):
    help = "Issue a SigV4 access key for USERNAME (the user is created, without a password, if needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--description", default="", help="What the key is for, shown in the admin.")
        parser.add_argument(
            "--json", action="store_true", help='Print only {"AccessKeyId": ..., "SecretAccessKey": ...}.'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        access_key, secret = services.access_key_create_for_username(
            username=options["username"], description=options["description"]
        )
        if options["json"]:
            self.stdout.write(
                json.dumps({"AccessKeyId": access_key.access_key_id, "SecretAccessKey": secret})
            )
            return
        self.stdout.write(f"AccessKeyId:     {access_key.access_key_id}")
        self.stdout.write(f"SecretAccessKey: {secret}")
        self.stdout.write("The secret is shown only this once; store it now.")
