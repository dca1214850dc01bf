"""Print a batch job's output file, decrypted when it was written encrypted: `manage.py job_output s3://… [-o FILE]`."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs import s3


class Command(BaseCommand):
    help = (
        "Read a batch job's output file from its s3:// URI (the local folder or the configured S3 store) "
        "and print it, decrypting it with its KMS key when the job had OutputDataConfig.KmsKeyId."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("uri", help="The output file, e.g. s3://out-bucket/folder/<JobId>/input.json.out")
        parser.add_argument("-o", "--output", metavar="FILE", help="Write the contents to FILE instead.")
        parser.add_argument(
            "--allow-moved",
            action="store_true",
            help="Decrypt an encrypted file even though it was written to another URI (you moved it).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            contents = s3.read_output(options["uri"], allow_moved=options["allow_moved"])
        except s3.StorageError as error:
            raise CommandError(error.message) from None
        if options["output"]:
            self._write_file(options["output"], contents)
            return
        try:
            self.stdout.write(contents.decode(), ending="")
        except UnicodeDecodeError:
            # Output files are JSON; anything else goes to a file rather than garbling a terminal.
            raise CommandError("The file is not UTF-8 text: write it to a file with -o FILE.") from None

    def _write_file(self, path: str, contents: bytes) -> None:
        # The decrypted contents may be sensitive: readable by the operator only.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(contents)
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror or error}") from None
        self.stderr.write(f"Wrote {len(contents)} bytes to {path}.")
