"""The batch-enrollment bench: a big enrollment job with 1 and 2 workers, against the pure embedding work.

For each database: a manifest of N speakers (30 s of audio each, from the demo's LibriSpeech voices) in the
embedded S3 folder, a job started through the service, then W Celery workers (solo pool, one process each,
one BLAS thread each, as `make run` starts them) work it. Wall time is the job's own clock: from the moment
a worker read the manifest (`started_at`) to `ended_at`, as recorded in the database. The pure embedding
time is what the same entries cost when nothing but the engine runs (read the file, decode, voiceprint),
measured on a sample in a child process with the same thread settings; job time / pure time is what the
job machinery (claims, transactions, sealing, storage, events, output file) adds.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.console import say, wait_quiet
from bench.targets import ROOT, Skipped, Target

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
CLIP_SECONDS = 30.0
DISTINCT_CLIPS = 40
BUCKET = "bench"
ROLE = "arn:aws:iam::123456789012:role/VoiceIdBench"
BENCH_REDIS = "redis://127.0.0.1:6379/12"
TARGET_OVERHEAD = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("jobs")
    group.add_argument(
        "--jobs-speakers", type=int, default=1000, help="speakers in the enrollment job (1000)"
    )
    group.add_argument(
        "--jobs-workers",
        type=str,
        default="1,2",
        help="comma-separated worker counts to run the job with (1,2)",
    )
    group.add_argument(
        "--jobs-sample", type=int, default=40, help="entries timed for the pure embedding cost (40)"
    )


@dataclass
class JobRun:
    workers: int
    seconds: float
    completed: int
    failed: int
    status: str


@dataclass
class JobsDatabase:
    key: str
    title: str
    skipped: str = ""
    runs: list[JobRun] = field(default_factory=list)


@dataclass
class JobsBench:
    started_at: datetime
    seconds: float
    machine: dict[str, str]
    speakers: int
    pure_seconds_per_entry: float
    net_speech_seconds: float
    background_cores: float | None
    databases: list[JobsDatabase]


# --- audio ---------------------------------------------------------------------------------------


def _clips() -> list[np.ndarray]:
    """DISTINCT_CLIPS different 30 s windows of the demo voices' recordings."""
    from voiceprints import audio

    voices = sorted((ROOT / "demo" / "librispeech").glob("ls_*"))
    signals = [
        np.concatenate(
            [audio.to_canonical(audio.decode_wav(path.read_bytes())) for path in sorted(folder.glob("*.wav"))]
        )
        for folder in voices
    ]
    length = int(CLIP_SECONDS * audio.CANONICAL_RATE)
    clips = []
    rng = np.random.default_rng(7)
    while len(clips) < DISTINCT_CLIPS:
        signal = signals[len(clips) % len(signals)]
        start = int(rng.integers(0, len(signal) - length))
        clips.append(signal[start : start + length])
    return clips


def _write_inputs(s3_root: Path, speakers: int) -> str:
    from voiceprints import audio

    folder = s3_root / BUCKET / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    for number, clip in enumerate(_clips()):
        (folder / f"clip-{number:02}.wav").write_bytes(audio.encode_wav(clip, audio.CANONICAL_RATE))
    manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": f"req-{n:05}",
                "SpeakerId": f"caller-{n:05}",
                "AudioSpecifications": [
                    {"S3Uri": f"s3://{BUCKET}/clips/clip-{n % DISTINCT_CLIPS:02}.wav", "ChannelId": 0}
                ],
            }
            for n in range(speakers)
        ],
    }
    (s3_root / BUCKET / "manifest.json").write_text(json.dumps(manifest))
    return f"s3://{BUCKET}/manifest.json"


# --- the pure embedding cost -----------------------------------------------------------------------

_PURE = """
import json, sys, time
from pathlib import Path
from voiceprints import audio
from voiceprints.engine import decode, voiceprint_of
folder, sample = Path(sys.argv[1]), int(sys.argv[2])
files = sorted(folder.glob("*.wav"))
voiceprint_of(decode(files[0].read_bytes(), "WAV"))  # load the model outside the timing
speech, started = 0.0, time.process_time()
for n in range(sample):
    vp = voiceprint_of(decode(files[n % len(files)].read_bytes(), "WAV"))
    speech += vp.speech_seconds
print(json.dumps({"seconds": (time.process_time() - started) / sample, "speech": speech / sample}))
"""


def _pure_cost(env: dict[str, str], clips: Path, sample: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _PURE, str(clips), str(sample)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- one database --------------------------------------------------------------------------------

_START = """
import json
from domains import services as domains
from jobs import services
from jobs.models import BatchJob
domain = domains.domain_create(name="bench", kms_key_id="alias/bench", region="us-east-1")
job = services.job_start(domain=domain, request=services.JobRequest(
    kind=BatchJob.Kind.SPEAKER_ENROLLMENT, data_access_role_arn="%s", input_s3_uri="%s",
    output_s3_uri="s3://%s/output", config={"FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"}}))
print(json.dumps({"pk": job.pk}))
"""


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def _job_row(target: Target, pk: int) -> tuple[str, int, int, Any, Any]:
    query = "SELECT status, finished_entries, failed_entries, started_at, ended_at FROM jobs_batchjob WHERE id = %s"
    if target.database_url:
        import psycopg

        with psycopg.connect(target.database_url) as connection:
            row = connection.execute(query, (pk,)).fetchone()  # type: ignore[arg-type]
    else:
        with sqlite3.connect(target.var_dir / "voiceid.sqlite3", timeout=30) as connection:
            row = connection.execute(query.replace("%s", "?"), (pk,)).fetchone()
    assert row is not None
    return row  # type: ignore[return-value]


def _seconds(started: Any, ended: Any) -> float:
    def parse(value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

    return (parse(ended) - parse(started)).total_seconds()


def _run_job(target: Target, env: dict[str, str], workers: int, speakers: int) -> JobRun:
    target.reset()
    if target.database_url:
        import redis

        redis.Redis.from_url(BENCH_REDIS).flushdb()
    _manage(env, "migrate", "--noinput")
    manifest = _write_inputs(Path(env["VOICEID_LOCAL_S3_ROOT"]), speakers)
    pk = json.loads(_manage(env, "shell", "-c", _START % (ROLE, manifest, BUCKET)).strip().splitlines()[-1])[
        "pk"
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "voiceid_site", "worker", "--pool=solo", "-l", "WARNING",
             "-n", f"bench{number}-{secrets.token_hex(2)}@%h"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(target.var_dir / f"worker-{number}.log", "wb"),  # noqa: SIM115 - the child keeps it
        )
        for number in range(workers)
    ]  # fmt: skip
    try:
        while True:
            status, finished, failed, started_at, ended_at = _job_row(target, pk)
            if status in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"):
                break
            if any(process.poll() is not None for process in processes):
                raise RuntimeError(f"a worker exited; see {target.var_dir}/worker-*.log")
            say(f"    {workers} worker(s): {finished}/{speakers} entries …")
            time.sleep(10)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    return JobRun(
        workers=workers,
        seconds=_seconds(started_at, ended_at),
        completed=finished - failed,
        failed=failed,
        status=status,
    )


def _database(target: Target, args: argparse.Namespace, worker_counts: list[int]) -> JobsDatabase:
    result = JobsDatabase(key=target.key, title=target.title)
    say(f"{target.title}:")
    try:
        target.check_reachable()
    except Skipped as reason:
        result.skipped = str(reason)
        return result
    env = _env(target)
    for workers in worker_counts:
        run = _run_job(target, env, workers, args.jobs_speakers)
        say(f"    {workers} worker(s): {run.status} in {run.seconds:.0f} s")
        result.runs.append(run)
    target.teardown()
    return result


def _env(target: Target) -> dict[str, str]:
    env = target.env(secret_key=secrets.token_urlsafe(48))
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    env["VOICEID_LOCAL_S3_ROOT"] = str(target.var_dir / "s3")
    # 30 s files (the measure) hold under 30 s of net speech; the 30 s enrollment minimum would
    # refuse them all, so the bench enrolls from 20 s. The work per entry is the same either way.
    env["VOICEID_ENROLLMENT_SPEECH_SECONDS"] = "20"
    if target.database_url:
        env["CELERY_BROKER_URL"] = BENCH_REDIS
    return env


def run(targets: list[Target], args: argparse.Namespace, *, machine: dict[str, str]) -> tuple[JobsBench, str]:
    started_at, started = datetime.now(UTC), time.monotonic()
    worker_counts = sorted({int(part) for part in args.jobs_workers.split(",") if part.strip()})
    background = wait_quiet(getattr(args, "quiet_wait", 60.0))
    first = targets[0]
    first.reset()
    env = _env(first)
    _write_inputs(Path(env["VOICEID_LOCAL_S3_ROOT"]), 1)
    say(f"  pure embedding cost on one thread ({args.jobs_sample} entries) …")
    pure = _pure_cost(env, Path(env["VOICEID_LOCAL_S3_ROOT"]) / BUCKET / "clips", args.jobs_sample)
    say(f"    {pure['seconds'] * 1000:.0f} ms per 30 s entry ({pure['speech']:.1f} s net speech)")
    databases = [_database(target, args, worker_counts) for target in targets]
    bench = JobsBench(
        started_at=started_at,
        seconds=time.monotonic() - started,
        machine=machine,
        speakers=args.jobs_speakers,
        pure_seconds_per_entry=pure["seconds"],
        net_speech_seconds=pure["speech"],
        background_cores=background,
        databases=databases,
    )
    return bench, render(bench)


# --- the report section --------------------------------------------------------------------------


def render(bench: JobsBench) -> str:
    pure_total = bench.pure_seconds_per_entry * bench.speakers
    lines = [
        "## Batch enrollment jobs",
        "",
        f"Measured {bench.started_at:%Y-%m-%d %H:%M} UTC on {bench.machine.get('cpu', 'this machine')} "
        f"({bench.machine.get('cores', '?')} cores); `python -m bench --only jobs`. One enrollment job of "
        f"{bench.speakers:,} speakers, each one 30 s WAV file ({bench.net_speech_seconds:.1f} s of net speech), "
        "from the embedded S3 folder; Celery workers with the solo pool and one BLAS thread each; the job's "
        "own clock (manifest read to output file written). SQLite runs on the filesystem broker, PostgreSQL "
        "on Redis. The enrollment minimum is set to 20 s of net speech for the run (a 30 s file holds less "
        "than 30 s of speech; the work per entry does not depend on the minimum).",
        "",
        f"Pure embedding work for the same entries (read, decode, voiceprint; one thread, nothing else): "
        f"{bench.pure_seconds_per_entry * 1000:.0f} ms per entry, {pure_total:,.0f} s for the job.",
        "",
        "| database | workers | wall time | speakers / minute | job time / pure embedding time | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for database in bench.databases:
        if database.skipped:
            lines.append(f"| {database.title} | - | skipped: {database.skipped} | | | |")
            continue
        for job in database.runs:
            per_minute = bench.speakers / job.seconds * 60 if job.seconds else 0.0
            ratio = job.seconds * job.workers / pure_total if pure_total else float("nan")
            lines.append(
                f"| {database.title} | {job.workers} | {job.seconds:,.0f} s | {per_minute:,.0f} | "
                f"{ratio:.2f} | {job.status}, {job.completed:,} enrolled, {job.failed} failed |"
            )
            if job.workers == 1:
                met = ratio - 1 < TARGET_OVERHEAD
                verdicts.append(
                    f"- {database.title}: the job machinery adds {(ratio - 1) * 100:.0f} % on top of the "
                    f"embedding work with one worker (target: under {TARGET_OVERHEAD * 100:.0f} %): "
                    f"**{'met' if met else 'missed'}**."
                )
        one = next((job for job in database.runs if job.workers == 1), None)
        two = next((job for job in database.runs if job.workers == 2), None)
        if one and two and two.seconds:
            verdicts.append(
                f"- {database.title}: two workers finish the job {one.seconds / two.seconds:.2f}x faster than one."
            )
    lines += [
        "",
        "The ratio is worker-seconds over pure embedding seconds (wall time x workers / pure time): 1.00 would "
        "mean the machinery costs nothing; with two workers on two cores it also counts what the two "
        "workers cost each other (shared memory bandwidth, database locks).",
        "",
        *verdicts,
    ]
    if bench.background_cores and bench.background_cores > 0.3:
        lines += ["", f"Other processes kept {bench.background_cores:.1f} cores busy when the run started."]
    return "\n".join(lines)
