"""Linux /proc readings: who used the CPU during a run, and which gunicorn worker holds a connection.

Both matter on a small shared machine. Other processes (a test suite, a build) take cores from the server,
and gunicorn's workers race to accept connections, so a few keep-alive connections can all land on one
worker, which then serves them on one core (the GIL) while the other worker idles: that alone halves
requests/s from one run to the next. Elsewhere (no /proc) every function here degrades to "unknown".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    machine_busy: int  # ticks, every core, since boot
    by_pid: dict[int, tuple[str, int]]  # pid → (command name, its own and its reaped children's CPU ticks)


def snapshot() -> CpuSnapshot | None:
    try:
        fields = [int(value) for value in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    by_pid: dict[int, tuple[str, int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may hold spaces; the numbers follow the last ')'.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        # utime + stime, and cutime + cstime: the CPU of children it has reaped. A process that exits during
        # the run is gone from the later snapshot; its parent's cutime/cstime still has it. PostgreSQL
        # replaces a backend whenever a server thread's connection reaches CONN_MAX_AGE, so without these
        # the database's CPU went mostly uncounted (0.10 of its 0.37 cores in a 50-call run) into "other".
        by_pid[int(entry.name)] = (name, sum(int(value) for value in rest[11:15]))
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return CpuSnapshot(machine_busy=busy, by_pid=by_pid)


@dataclass(frozen=True)
class CpuUse:
    """Average cores in use over an interval, by who used them."""

    client: float
    workers: list[float]  # one per gunicorn worker, busiest first
    database: float  # PostgreSQL server processes (0 for SQLite, which runs inside the workers)
    other: float  # everything else on the machine: the noise in this run's numbers


def cpu_use(
    before: CpuSnapshot | None, after: CpuSnapshot | None, seconds: float, *, client: int, workers: list[int]
) -> CpuUse | None:
    if before is None or after is None or seconds <= 0:
        return None

    def used(pid: int) -> float:
        start = before.by_pid.get(pid, ("", 0))[1]
        return (after.by_pid.get(pid, ("", start))[1] - start) / _TICKS / seconds

    database = sum(used(pid) for pid, (name, _) in after.by_pid.items() if name.startswith("postgres"))
    worker_use = sorted((used(pid) for pid in workers), reverse=True)
    client_use = used(client)
    machine = (after.machine_busy - before.machine_busy) / _TICKS / seconds
    other = max(0.0, machine - client_use - sum(worker_use) - database)
    return CpuUse(client=client_use, workers=worker_use, database=database, other=other)


def children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in (_PROC / str(pid) / "task" / str(pid) / "children").read_text().split()
        ]
    except (OSError, ValueError):
        return []


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        descriptors = os.listdir(_PROC / str(pid) / "fd")
    except OSError:
        return inodes
    for fd in descriptors:
        try:
            target = os.readlink(_PROC / str(pid) / "fd" / fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def owners(server_port: int, client_ports: list[int], workers: list[int]) -> list[int | None]:
    """For each client port connected to 127.0.0.1:server_port, the worker pid holding the accepted socket."""
    inode_by_client_port: dict[int, int] = {}
    try:
        lines = (_PROC / "net" / "tcp").read_text().splitlines()[1:]
    except OSError:
        return [None] * len(client_ports)
    for line in lines:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == server_port:
            inode_by_client_port[int(fields[2].rsplit(":", 1)[1], 16)] = int(fields[9])
    worker_by_inode = {inode: worker for worker in workers for inode in _socket_inodes(worker)}
    return [worker_by_inode.get(inode_by_client_port.get(port, -1)) for port in client_ports]
