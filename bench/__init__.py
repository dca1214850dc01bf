"""`make bench`: voiceid measured on real hardware, on SQLite and PostgreSQL.

`python -m bench` runs three groups, each rewriting its own section of docs/benchmarks.md: api (seeds
throwaway databases, serves them with gunicorn as in production and replays pre-signed DescribeSpeaker and
ListSpeakers requests), sweepers (the retention sweepers over domains of up to a million speakers) and
crypto (what envelope encryption adds to each read). `--only` picks groups; `--help` lists the options.
"""

from __future__ import annotations
