"""A Celery worker killed with SIGKILL half-way through a key rotation: the next worker finishes it.

Everything runs in real processes sharing one SQLite database and filesystem broker in a temporary
folder: `manage.py` for setup and checks, `celery worker` for the job, the watchdog for the restart.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEAKERS = 400

SETUP = f"""
from domains import services as domains
from speakers import services as speakers
domain = domains.domain_create(name="crash", kms_key_id="alias/first", region="us-east-1")
for number in range({SPEAKERS}):
    speakers.speaker_get_or_create_pending(domain=domain, customer_speaker_id=f"caller-{{number}}")
domains.domain_update(domain_id=domain.domain_id, name="crash", kms_key_id="alias/second")
print(domain.domain_id)
"""

CHECK = """
import json
from domains import envelope, keyproviders
from domains.models import DataKey, Domain
from speakers.models import Speaker
keyproviders.master_key_set_enabled(key_id="alias/first", enabled=False)
envelope.forget_data_keys()
domain = Domain.objects.get()
ids = sorted(s.customer_speaker_id for s in Speaker.objects.select_related("domain"))
print(json.dumps({
    "status": domain.encryption_update_status,
    "keys": list(DataKey.objects.values_list("kms_key_id", flat=True)),
    "ids": ids,
    "stale": Speaker.objects.exclude(sealed_with=domain.key_generation).count(),
}))
"""


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceid_site.settings",
        DEBUG="true",
        VOICEID_VAR_DIR=str(tmp_path),
        VOICEID_KMS_AUTO_CREATE="true",
        VOICEID_ROTATION_BATCH_SIZE="10",
        VOICEID_ROTATION_PAUSE_SECONDS="0.05",
        VOICEID_ROTATION_STALL_SECONDS="1",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def start_worker(stack_env: dict[str, str]) -> Iterator[object]:
    workers: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        # The solo pool runs the task in the worker process itself, so SIGKILL stops it mid-batch.
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "voiceid_site", "worker", "--pool=solo", "-l", "WARNING"],
            cwd=ROOT,
            env=stack_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def resealed(database: Path) -> int:
    with sqlite3.connect(database, timeout=10) as connection:
        return connection.execute("SELECT count(*) FROM speakers_speaker WHERE sealed_with = 2").fetchone()[0]


def wait_for(condition: object, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_a_worker_killed_mid_rotation_is_replaced_and_the_rotation_completes(
    stack_env: dict[str, str], start_worker: object, tmp_path: Path
) -> None:
    database = tmp_path / "voiceid.sqlite3"
    manage(stack_env, "migrate", "--noinput")
    manage(stack_env, "shell", "-c", SETUP)  # UpdateDomain queues the job; no worker runs yet

    first = start_worker()  # type: ignore[operator]
    wait_for(lambda: resealed(database) >= 30, seconds=90, what="the first worker to re-seal some speakers")
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before_kill = resealed(database)
    assert 30 <= done_before_kill < SPEAKERS, "the kill must land mid-rotation"

    time.sleep(1.5)  # longer than VOICEID_ROTATION_STALL_SECONDS: the job now counts as stalled
    assert "Re-enqueued 1" in manage(stack_env, "rotate_keys", "--resume-stalled")
    start_worker()  # type: ignore[operator]
    wait_for(
        lambda: (
            "COMPLETED"
            in manage(
                stack_env,
                "shell",
                "-c",
                "from domains.models import Domain; print(Domain.objects.get().encryption_update_status)",
            )
        ),
        seconds=120,
        what="the second worker to complete the rotation",
    )

    output = manage(stack_env, "shell", "-c", CHECK)
    result = json.loads(output.splitlines()[-1])
    assert result["status"] == "COMPLETED"
    assert result["keys"] == ["alias/second"]
    assert result["stale"] == 0
    assert result["ids"] == sorted(f"caller-{number}" for number in range(SPEAKERS))
