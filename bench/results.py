"""What one bench run measured, shared by the runner and the report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from bench.load import LoadSample, percentile

# Scenario key → the label the report shows, in report order.
SCENARIOS = {
    "describe": "DescribeSpeaker",
    "first_page": "ListSpeakers, first page",
    "deep_page": "ListSpeakers, deep page",
    "last_page": "ListSpeakers, last page",
    # The last page of the smallest domain, measured again once a bigger domain shares its table.
    "neighbour_last_page": "ListSpeakers, last page of the smaller domain",
}


@dataclass(frozen=True)
class LoadResult:
    """One scenario at one connection count, over every round."""

    connections: int
    rounds: int
    requests: int
    rps: float  # median over the rounds
    rps_min: float
    rps_max: float
    p50_ms: float  # over every request of every round
    p99_ms: float
    client_cpu: float | None  # cores, the busiest round
    worker_cpu: list[float] | None  # cores per gunicorn worker, busiest first, mean over rounds
    database_cpu: float | None  # cores used by PostgreSQL, mean over rounds
    other_cpu: float | None  # cores used by everything else on the machine, the busiest round
    unbalanced_rounds: int  # rounds whose connections could not be spread evenly over the workers
    reconnects: int

    @classmethod
    def of(cls, samples: list[LoadSample]) -> LoadResult:
        latencies = sorted(latency for sample in samples for latency in sample.latencies)
        uses = [sample.cpu for sample in samples if sample.cpu is not None]
        rates = [sample.rps for sample in samples]
        return cls(
            connections=samples[0].connections,
            rounds=len(samples),
            requests=len(latencies),
            rps=statistics.median(rates),
            rps_min=min(rates),
            rps_max=max(rates),
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
            client_cpu=max(use.client for use in uses) if uses else None,
            worker_cpu=[
                statistics.fmean(column) for column in zip(*(use.workers for use in uses), strict=True)
            ]
            if uses
            else None,
            database_cpu=statistics.fmean(use.database for use in uses) if uses else None,
            other_cpu=max(use.other for use in uses) if uses else None,
            unbalanced_rounds=sum(1 for sample in samples if sample.balanced is False),
            reconnects=sum(sample.reconnects for sample in samples),
        )


@dataclass
class SizeRun:
    size: int
    table_rows: int  # rows in the speakers table (every domain) while this size was measured
    seed_seconds: float
    neighbour_size: int | None  # speakers in the smaller domain sharing the table, if any
    probes: dict[str, dict[str, float]]  # scenario key → {"p50_ms", "p99_ms"} of the query alone
    plans: dict[str, str]  # ListSpeakers scenario key → the database's plan of its page query
    background_cores: float | None = None  # CPU other processes kept busy just before the runs, in cores
    loads: dict[str, list[LoadResult]] = field(
        default_factory=dict
    )  # scenario key → one per connection count


@dataclass
class BackendRun:
    key: str
    title: str
    version: str | None = None
    skipped: str | None = None
    sizes: list[SizeRun] = field(default_factory=list)


@dataclass
class Run:
    started_at: datetime
    seconds: float
    sizes: list[int]
    connections: list[int]
    rounds: int
    warmup_seconds: float
    duration_seconds: float
    backends: list[BackendRun]
    machine: dict[str, str]
