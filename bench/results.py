"""What one bench run measured, shared by the runner and the report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


# The sweeper group (bench/sweeps.py): scenario key → the label the report shows, in report order.
SWEEP_SCENARIOS = {
    "expire": "Expire: half the speakers idle > expiry period",
    "expire_idle": "Expire again: nothing due (the daily run)",
    "erase": "Erase a SUSPENDED domain holding them all",
}


@dataclass(frozen=True)
class SweepMeasurement:
    """One sweeper run, in a process of its own."""

    scenario: str
    counts: dict[str, int]
    seconds: float
    rows_before: int  # speakers in the table when the run began
    batch_size: int
    rss_baseline_mib: float  # the process's RSS high-water mark just before the sweep
    rss_peak_mib: float  # … and just after it
    traced_peak_mib: float | None  # Python allocations' peak during the sweep (--trace-memory only)
    transactions: int
    transaction_p50_ms: float
    transaction_max_ms: float  # the longest any batch held its locks
    statements: int
    statement_max_ms: float
    statement_max_verb: str  # SELECT, UPDATE, DELETE …
    statement_max_in_transaction: bool
    background_cores: float | None = None

    @property
    def rss_growth_mib(self) -> float:
        return self.rss_peak_mib - self.rss_baseline_mib

    @classmethod
    def of(cls, measured: dict[str, Any], background_cores: float | None) -> SweepMeasurement:
        traced = measured["traced_peak_bytes"]
        return cls(
            scenario=measured["scenario"],
            counts=measured["counts"],
            seconds=measured["seconds"],
            rows_before=measured["rows_before"],
            batch_size=measured["batch_size"],
            rss_baseline_mib=measured["rss_baseline_kib"] / 1024,
            rss_peak_mib=measured["rss_peak_kib"] / 1024,
            traced_peak_mib=None if traced is None else traced / 2**20,
            transactions=measured["transactions"]["count"],
            transaction_p50_ms=measured["transactions"]["p50_ms"],
            transaction_max_ms=measured["transactions"]["max_ms"],
            statements=measured["statements"]["count"],
            statement_max_ms=measured["statements"]["max_ms"],
            statement_max_verb=measured["longest_statement"]["verb"],
            statement_max_in_transaction=measured["longest_statement"]["in_transaction"],
            background_cores=background_cores,
        )


@dataclass
class SweepSize:
    size: int
    seed_seconds: float
    due: int  # speakers past the expiry period
    measurements: dict[str, SweepMeasurement] = field(default_factory=dict)  # scenario key → run


@dataclass
class SweepBackend:
    key: str
    title: str
    version: str | None = None
    skipped: str | None = None
    sizes: list[SweepSize] = field(default_factory=list)
    purge: SweepMeasurement | None = None


@dataclass
class SweepRun:
    started_at: datetime
    seconds: float
    sizes: list[int]
    erasures: int
    files_per_erasure: int
    file_bytes: int
    trace_memory: bool
    backends: list[SweepBackend]
    machine: dict[str, str]


@dataclass
class CryptoRun:
    started_at: datetime
    seconds: float
    reads: int
    cold_reads: int
    version: str
    cache_seconds: int
    timer_p50_us: float
    sealed_overhead_bytes: int
    rows: list[dict[str, Any]]  # label, bytes, kind, count, p50_us, p99_us, mean_us
    machine: dict[str, str]
    background_cores: float | None = None  # CPU other processes kept busy just before, in cores
