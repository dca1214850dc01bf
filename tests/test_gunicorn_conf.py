"""gunicorn as `make run` serves it (voiceid_site/gunicorn_conf.py): a request whose body stops arriving
before its Content-Length frees its worker thread and is answered 400, instead of holding the thread for as
long as the client keeps the connection open.

Runs the real gunicorn, with one worker of two threads, on a SQLite database of its own.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import check_response_against_model

ROOT = Path(__file__).resolve().parent.parent
STALL_SECONDS = 1
THREADS = 2


@dataclass(frozen=True)
class Served:
    port: int
    access_key_id: str
    secret_access_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    var_dir = tmp_path_factory.mktemp("gunicorn-var")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="voiceid_site.settings",
        DEBUG="false",
        SECRET_KEY="gunicorn-conf-test-" + "k" * 32,
        VOICEID_VAR_DIR=str(var_dir),
        VOICEID_BODY_STALL_SECONDS=str(STALL_SECONDS),
        LOG_LEVEL="WARNING",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    issued = subprocess.run(
        [*manage, "create_access_key", "stall-test"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key_id = re.search(r"AccessKeyId:\s+(\S+)", issued)
    secret = re.search(r"SecretAccessKey:\s+(\S+)", issued)
    assert key_id and secret, issued
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn", "voiceid_site.wsgi",
        "--config", "python:voiceid_site.gunicorn_conf",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(THREADS),
    ]  # fmt: skip
    log = (var_dir / "gunicorn.log").open("wb")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while _health(port) != 200:
            assert server.poll() is None, (var_dir / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            time.sleep(0.2)
        yield Served(port, key_id.group(1), secret.group(1))
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:  # a thread still held: gunicorn waits for it
            server.kill()
            server.wait()
        log.close()


def _health(port: int, timeout: float = 2) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _send_part(port: int, head: bytes, body_start: bytes) -> socket.socket:
    """A request whose headers promise more body than is then sent."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body_start)
    return sock


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(STALL_SECONDS + 15)
    received = b""
    try:
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    return received


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def test_stalled_form_posts_free_every_thread_and_are_answered_400(served: Served) -> None:
    head = (
        f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    stalled = [_send_part(served.port, head, b"username=a") for _ in range(THREADS)]  # every thread

    started = time.monotonic()
    assert _health(served.port, timeout=STALL_SECONDS + 10) == 200  # served once the stalls give up
    assert time.monotonic() - started < STALL_SECONDS + 8

    for sock in stalled:
        answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"The request did not arrive in full" in answer


def test_a_stalled_api_call_is_a_serialization_exception(served: Served) -> None:
    body = json.dumps({"MaxResults": 5}).encode()
    url = f"http://127.0.0.1:{served.port}/"
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "VoiceID.ListDomains"},
    )
    SigV4Auth(Credentials(served.access_key_id, served.secret_access_key), "voiceid", "us-east-1").add_auth(
        request
    )
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in request.headers.items() if name != "Host")
    sock = _send_part(served.port, (head + "\r\n").encode(), body[:5])

    answer = _answer(sock)

    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"X-Amzn-ErrorType: SerializationException" in headers
    assert f"Content-Length: {len(payload)}".encode() in headers  # as AWS answers: not chunked
    assert "Content-Length" in json.loads(payload)["Message"]
    check_response_against_model("ListDomains", 400, payload)


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_stall_limit_that_is_not_a_positive_number_stops_the_server_saying_which_setting(
    value: str,
) -> None:
    env = dict(os.environ, VOICEID_BODY_STALL_SECONDS=value)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "voiceid_site.wsgi",
        "--config",
        "python:voiceid_site.gunicorn_conf",
    ]
    started = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert started.returncode != 0
    assert f"VOICEID_BODY_STALL_SECONDS must be a number of seconds above 0, got '{value}'." in started.stderr
