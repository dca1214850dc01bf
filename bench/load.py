"""A closed-loop load generator replaying pre-signed AWS JSON requests over keep-alive connections.

Each distinct request is signed once: SigV4 signatures stay valid for 15 minutes and voiceid accepts
replays, so the client spends its share of the (shared) CPU on sending requests, not on HMACs. Plain
http.client rather than boto3: boto3's per-call overhead would be measured as well, and on the
2 cores the server runs on it would take CPU from the server.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench import procfs

CONTENT_TYPE = "application/x-amz-json-1.0"
REGION = "us-east-1"
_TIMEOUT_SECONDS = 30
_BALANCE_ATTEMPTS = 40


@dataclass(frozen=True)
class SignedRequest:
    operation: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class LoadSample:
    """One measured run of a few seconds."""

    connections: int
    latencies: list[float]  # seconds, ascending
    seconds: float
    rps: float
    cpu: procfs.CpuUse | None
    balanced: bool | None  # connections spread evenly over the workers; None: could not tell
    reconnects: int


class BadResponse(Exception):
    pass


def sign(
    *, host: str, access_key_id: str, secret_access_key: str, operation: str, params: dict[str, Any]
) -> SignedRequest:
    body = json.dumps(params).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"VoiceID.{operation}"},
    )
    SigV4Auth(Credentials(access_key_id, secret_access_key), "voiceid", REGION).add_auth(request)
    headers = dict(request.headers.items())
    # Sent as signed: http.client would otherwise add its own Host, which must match byte for byte.
    headers["Host"] = host
    return SignedRequest(operation=operation, body=body, headers=headers)


def call(host: str, port: int, request: SignedRequest) -> dict[str, Any]:
    """One request on a fresh connection; its decoded body, or BadResponse unless it answered 200."""
    conn = http.client.HTTPConnection(host, port, timeout=_TIMEOUT_SECONDS)
    try:
        conn.request("POST", "/", body=request.body, headers=request.headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BadResponse(f"{request.operation} answered {response.status}: {data[:500]!r}")
    return json.loads(data)


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _open(host: str, port: int, request: SignedRequest) -> http.client.HTTPConnection:
    """A connection the server has accepted: one request answered on it."""
    conn = http.client.HTTPConnection(host, port, timeout=_TIMEOUT_SECONDS)
    conn.request("POST", "/", body=request.body, headers=request.headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        conn.close()
        raise BadResponse(f"{request.operation} answered {response.status}: {data[:500]!r}")
    return conn


def open_balanced(
    host: str, port: int, request: SignedRequest, count: int, workers: list[int]
) -> tuple[list[http.client.HTTPConnection], bool | None]:
    """`count` keep-alive connections, spread as evenly as possible over the gunicorn workers.

    Workers race to accept; left alone, 4 connections often all land on one worker, which serves them on
    one core (GIL) while the other idles, and requests/s then swings 2x between identical runs. Production
    clients open and recycle connections over time; this measures the steady state where the load is
    shared, by reopening connections that landed on an over-full worker.
    """
    conns = [_open(host, port, request) for _ in range(count)]
    if len(workers) < 2 or count < 2:
        return conns, True
    cap = math.ceil(count / len(workers))
    for _ in range(_BALANCE_ATTEMPTS):
        owner = procfs.owners(port, [conn.sock.getsockname()[1] for conn in conns], workers)  # type: ignore[union-attr]
        if None in owner:
            return conns, None  # no /proc, or a socket not found: measure as it landed
        crowded = next((i for i, worker in enumerate(owner) if owner.count(worker) > cap), None)
        if crowded is None:
            return conns, True
        conns[crowded].close()
        conns[crowded] = _open(host, port, request)
    return conns, False


def run_load(
    *,
    host: str,
    port: int,
    requests: Sequence[SignedRequest],
    connections: int,
    warmup_seconds: float,
    duration_seconds: float,
    workers: list[int],
) -> LoadSample:
    """`connections` clients each send a request, wait for its answer and send the next, for a warm-up
    (discarded) and then `duration_seconds` (measured). Any answer but 200 fails the whole run."""
    conns, balanced = open_balanced(host, port, requests[0], connections, workers)
    start = time.perf_counter() + 0.05
    measure_from = start + warmup_seconds
    stop_at = measure_from + duration_seconds
    timings: list[list[tuple[float, float]]] = [[] for _ in range(connections)]
    reconnects = [0] * connections
    failures: list[BaseException] = []

    def client(slot: int) -> None:
        conn = conns[slot]
        own = timings[slot]
        index = slot  # clients start at different requests so they do not move in lockstep
        try:
            while not failures:
                sent = time.perf_counter()
                if sent >= stop_at:
                    break
                request = requests[index % len(requests)]
                index += 1
                try:
                    conn.request("POST", "/", body=request.body, headers=request.headers)
                    response = conn.getresponse()
                    data = response.read()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # gunicorn may close an idle keep-alive connection; resend on a new one, untimed
                    # (http.client reconnects by itself on the next request).
                    conn.close()
                    reconnects[slot] += 1
                    continue
                done = time.perf_counter()
                if response.status != 200:
                    raise BadResponse(f"{request.operation} answered {response.status}: {data[:500]!r}")
                if sent >= measure_from:
                    own.append((sent, done))
        except BaseException as error:
            failures.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(slot,), daemon=True) for slot in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_before, wall_from = procfs.snapshot(), time.perf_counter()
    for thread in threads:
        thread.join()
    cpu_after, wall_used = procfs.snapshot(), time.perf_counter() - wall_from
    if failures:
        raise failures[0]

    spans = [span for own in timings for span in own]
    if not spans:
        raise BadResponse("no request completed in the measured window")
    # Requests sent in the window; the window closes when the last of them has been answered.
    seconds = max(done for _, done in spans) - measure_from
    return LoadSample(
        connections=connections,
        latencies=sorted(done - sent for sent, done in spans),
        seconds=seconds,
        rps=len(spans) / seconds,
        cpu=procfs.cpu_use(cpu_before, cpu_after, wall_used, client=os.getpid(), workers=workers),
        balanced=balanced,
        reconnects=sum(reconnects),
    )
