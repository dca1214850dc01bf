"""`make bench`: throughput and latency of voiceid's read path on SQLite and PostgreSQL.

`python -m bench` seeds throwaway databases, serves them with gunicorn as in production, replays pre-signed
DescribeSpeaker and ListSpeakers requests against them and rewrites its own section of docs/benchmarks.md.
"""

from __future__ import annotations
