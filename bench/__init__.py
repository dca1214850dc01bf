"""`make bench`: voiceid measured on real hardware, on SQLite and PostgreSQL.

`python -m bench` runs four groups, each rewriting its own section of docs/benchmarks.md: api (seeds
throwaway databases, serves them with gunicorn as in production and replays pre-signed DescribeSpeaker and
ListSpeakers requests), sweepers (the retention sweepers over domains of up to a million speakers), crypto
(what envelope encryption adds to each read) and voice (the voice engine's speed, EvaluateSession latency,
1:N screening and 50 live calls). `--only` picks groups; `--help` lists the options.
"""

from __future__ import annotations
