"""gunicorn as `make run` serves it (voiceid_site/gunicorn_conf.py): worker processes of one thread that keep
connections alive, and a request whose body stops arriving before its Content-Length frees its worker thread
and is answered 400, instead of holding the thread for as long as the client keeps the connection open.

Runs the real gunicorn on a SQLite database of its own: the stall tests with one worker of two threads.
"""

from __future__ import annotations

import contextlib
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
from voiceid_site import gunicorn_conf

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


@dataclass(frozen=True)
class Site:
    env: dict[str, str]
    var_dir: Path
    access_key_id: str
    secret_access_key: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A migrated database with an access key, and the environment gunicorn serves it with."""
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
    return Site(env, var_dir, key_id.group(1), secret.group(1))


@pytest.fixture(scope="module")
def served(site: Site) -> Iterator[Served]:
    port = _free_port()
    with _gunicorn(site.env, site.var_dir, port, "--workers", "1", "--threads", str(THREADS)):
        yield Served(port, site.access_key_id, site.secret_access_key)


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], var_dir: Path, port: int, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn with the project's config (and `args`) on `port`, once it answers; stopped after."""
    command = [
        sys.executable, "-m", "gunicorn", "voiceid_site.wsgi",
        "--config", "python:voiceid_site.gunicorn_conf", "--bind", f"127.0.0.1:{port}", *args,
    ]  # fmt: skip
    log = (var_dir / f"gunicorn-{port}.log").open("wb")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while _health(port) != 200:
            assert server.poll() is None, (var_dir / f"gunicorn-{port}.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            time.sleep(0.2)
        yield server
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


def _children(parent: int) -> int:
    children = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (name) state ppid ...": the name may hold spaces, so split after its last ")".
            if int(stat.read_text().rpartition(")")[2].split()[1]) == parent:
                children += 1
    return children


def _workers_of(arbiter: int, expected: int) -> int:
    """How many worker processes gunicorn's arbiter settles on: once `expected` have started (or 20 s have
    passed), the count one second later, so that workers still being spawned are counted too."""
    deadline = time.monotonic() + 20
    while _children(arbiter) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    return _children(arbiter)


def test_served_as_make_run_serves_one_worker_more_than_the_cores_each_keeping_connections_alive(
    site: Site,
) -> None:
    cores = gunicorn_conf._usable_cores()  # the affinity, or a container's CPU quota when lower
    env = {k: v for k, v in site.env.items() if k != "WEB_CONCURRENCY"}
    port = _free_port()
    with _gunicorn(env, site.var_dir, port) as server:
        assert _workers_of(server.pid, cores + 1) == cores + 1

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            sockets = set()
            for _ in range(3):
                connection.request("GET", "/health")
                response = connection.getresponse()
                response.read()
                assert response.status == 200
                assert connection.sock is not None, "the worker closed the connection after one request"
                sockets.add(connection.sock.getsockname())
            assert len(sockets) == 1  # one connection carried all three: kept alive, even at one thread
        finally:
            connection.close()


def test_web_concurrency_sets_the_number_of_workers(site: Site) -> None:
    wanted = len(os.sched_getaffinity(0)) + 2  # not the default
    port = _free_port()
    with _gunicorn(dict(site.env, WEB_CONCURRENCY=str(wanted)), site.var_dir, port) as server:
        assert _workers_of(server.pid, wanted) == wanted


def test_a_connection_that_sends_nothing_does_not_hold_a_one_thread_worker(site: Site) -> None:
    port = _free_port()
    with _gunicorn(dict(site.env, WEB_CONCURRENCY="1"), site.var_dir, port):
        idle = socket.create_connection(("127.0.0.1", port))  # a browser's speculative preconnect
        try:
            time.sleep(0.2)  # accepted and handed to the worker's only thread
            started = time.monotonic()
            assert _health(port, timeout=10) == 200
            assert time.monotonic() - started < 2.5  # gunicorn's own wait for a first byte is 5 s
        finally:
            idle.close()


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None), (None, None)],
)
def test_a_cgroup_cpu_quota_lowers_the_cores_counted(
    tmp_path: Path, cpu_max: str | None, expected: int | None
) -> None:
    cpu_max_file = tmp_path / "cpu.max"
    if cpu_max is not None:
        cpu_max_file.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))

    counted = gunicorn_conf._usable_cores(cpu_max_file)

    assert counted == (affinity if expected is None else min(affinity, expected))


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


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VOICEID_BODY_STALL_SECONDS", "0", "a number of seconds above 0"),
        ("VOICEID_BODY_STALL_SECONDS", "-5", "a number of seconds above 0"),
        ("VOICEID_BODY_STALL_SECONDS", "soon", "a number of seconds above 0"),
        ("WEB_CONCURRENCY", "0", "a whole number of worker processes, 1 or more"),
    ],
)
def test_a_setting_that_is_not_a_usable_number_stops_the_server_saying_which(
    variable: str, value: str, message: str
) -> None:
    env = dict(os.environ, **{variable: value})
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
    assert f"{variable} must be {message}, got '{value}'." in started.stderr


@pytest.mark.parametrize("value", ["0", "many"])
def test_make_run_with_an_unusable_web_concurrency_says_so_before_starting_anything(value: str) -> None:
    env = dict(os.environ, WEB_CONCURRENCY=value, DEBUG="true")
    started = subprocess.run(
        [sys.executable, "manage.py", "runstack", "--port", str(_free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert f"WEB_CONCURRENCY must be a whole number of worker processes, 1 or more, got '{value}'." in (
        started.stderr
    )
    assert "is starting" not in started.stdout
