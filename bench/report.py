"""docs/benchmarks.md: this bench owns the text between its markers and leaves the rest of the file alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.prepare import DESCRIBE_SAMPLE, LAST_PAGE_ROWS, PAGE_SIZE
from bench.results import (
    SCENARIOS,
    SWEEP_SCENARIOS,
    BackendRun,
    CryptoRun,
    Run,
    SizeRun,
    SweepBackend,
    SweepMeasurement,
    SweepRun,
)

_PREAMBLE = """# Benchmarks

Measurements of voiceid on real hardware. Each benchmark rewrites only its own section, between its
`<!-- NAME:start -->` and `<!-- NAME:end -->` markers; add new benchmarks as new sections.
"""
# Per-page times within this factor of each other are called flat: single-run noise on a shared 2-core
# machine is of this order.
_FLAT = 1.3


def write(path: Path, section: str, *, name: str = "api-bench") -> None:
    """Put `section` between the `name` markers, replacing what was there; a new section goes at the end."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else _PREAMBLE
    block = f"{start}\n{section.strip()}\n{end}"
    if start in text and end in text and text.index(start) < text.index(end):
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _cores(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _label(key: str, size_run: SizeRun) -> str:
    if key == "neighbour_last_page":
        return f"ListSpeakers, last page of the {size_run.neighbour_size:,}-speaker domain"
    return SCENARIOS[key]


def _where(key: str, size_run: SizeRun) -> str:
    size = size_run.neighbour_size if key == "neighbour_last_page" else size_run.size
    return f"{size:,} / {size_run.table_rows:,}"


def _load_table(backend: BackendRun, connections: list[int]) -> list[str]:
    most = connections[-1]
    header = ["Request", "Speakers in domain / in table"]
    for count in connections:
        header += [f"{count} conn. req/s", "p50 ms", "p99 ms"]
    header += [f"CPU at {most} conn.: workers + database (cores)", "Other load (cores)"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 2 + "--:|" * (3 * len(connections)) + "--:|--:|",
    ]
    for key in SCENARIOS:
        for size_run in backend.sizes:
            results = size_run.loads.get(key)
            if not results:
                continue
            cells = [_label(key, size_run), _where(key, size_run)]
            for result in results:
                spread = f" ({result.rps_min:,.0f}-{result.rps_max:,.0f})" if result.rounds > 1 else ""
                cells += [f"{result.rps:,.0f}{spread}", _ms(result.p50_ms), _ms(result.p99_ms)]
            busiest = results[-1]
            workers = " + ".join(_cores(w) for w in busiest.worker_cpu) if busiest.worker_cpu else "?"
            if busiest.unbalanced_rounds:
                workers += f" ({busiest.unbalanced_rounds} round(s) unbalanced)"
            if backend.key == "postgresql":
                workers += f" + {_cores(busiest.database_cpu)}"
            others = [result.other_cpu for result in results if result.other_cpu is not None]
            cells += [workers, _cores(max(others)) if others else "?"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _p50(size_run: SizeRun, key: str) -> float:
    return size_run.loads[key][0].p50_ms  # the fewest connections: latency with the least queueing


def _verdict(backend: BackendRun) -> list[str]:
    """Sentences, derived from the numbers, on whether a page costs more in a bigger, deeper or shared table."""
    if len(backend.sizes) < 2:
        return ["Only one domain size was measured (`--sizes`), so growth with size is not judged here."]
    small, large = backend.sizes[0], backend.sizes[-1]
    keys = ("first_page", "deep_page", "last_page")
    ratios = {key: _p50(large, key) / _p50(small, key) for key in keys}
    probe = {key: large.probes[key]["p50_ms"] / small.probes[key]["p50_ms"] for key in keys}
    span = (
        f"from {small.size:,} to {large.size:,} speakers the p50 over HTTP goes from "
        + ", ".join(f"{_ms(_p50(small, key))} to {_ms(_p50(large, key))} ms" for key in keys)
        + " for a first, deep and last page (the page query alone: "
        + ", ".join(f"x{probe[key]:.2f}" for key in keys)
        + ")"
    )
    worst, worst_query = max(ratios.values()), max(probe.values())
    if worst <= _FLAT:
        sentence = f"**Per-page time does not grow with the domain's size:** {span}."
    elif worst_query <= _FLAT:
        # Over HTTP a single slow round moves p50; the query alone is the direct measure of paging.
        sentence = (
            f"**Per-page time does not grow with the domain's size:** {span}; the HTTP difference (up to "
            f"x{worst:.2f}) is not in the page query, so it is this shared machine's noise."
        )
    else:
        sentence = f"**Per-page time grows with the domain's size (up to x{worst:.2f}):** {span}."
    deep_vs_first = _p50(large, "deep_page") / _p50(large, "first_page")
    if deep_vs_first <= _FLAT:
        sentence += f" A deep page costs what a first page costs (x{deep_vs_first:.2f} at {large.size:,})."
    else:
        sentence += f" A deep page is x{deep_vs_first:.2f} slower than a first page at {large.size:,}."
    out = [sentence]
    if "neighbour_last_page" in large.loads and "last_page" in small.loads:
        alone, shared = _p50(small, "last_page"), _p50(large, "neighbour_last_page")
        alone_q = small.probes["last_page"]["p50_ms"]
        shared_q = large.probes["neighbour_last_page"]["p50_ms"]
        detail = (
            f"the last page of the {small.size:,}-speaker domain takes {_ms(alone)} ms (p50, HTTP) while it "
            f"is alone in the table and {_ms(shared)} ms once the {large.size:,}-speaker domain was loaded "
            f"after it (query alone: {_ms(alone_q)} and {_ms(shared_q)} ms)"
        )
        if shared / alone <= _FLAT or shared_q / alone_q <= _FLAT:
            out.append(f"A small domain's pages do not slow down beside a big one: {detail}.")
        else:
            out.append(
                f"**But a small domain's page slows down beside a big one (x{shared / alone:.1f}):** {detail}. "
                "The plan below shows why: the database walks the other domain's rows to fill the page."
            )
    return out


def _probe_table(backends: list[BackendRun]) -> list[str]:
    keys = ("first_page", "deep_page", "last_page", "neighbour_last_page", "describe")
    lines = [
        "| Database | Speakers in domain / in table | First page | Deep page | Last page "
        "| Last page of the smaller domain | DescribeSpeaker lookup |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for backend in backends:
        for size_run in backend.sizes:
            cells = [backend.title, f"{size_run.size:,} / {size_run.table_rows:,}"]
            for key in keys:
                probe = size_run.probes.get(key)
                cells.append(f"{_ms(probe['p50_ms'])} / {_ms(probe['p99_ms'])}" if probe else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _background(backends: list[BackendRun]) -> str:
    samples = [s.background_cores for b in backends for s in b.sizes if s.background_cores is not None]
    if not samples:
        return "- Other load on the machine was not sampled (no /proc/stat)."
    return (
        f"- Other processes kept {min(samples):.2f}-{max(samples):.2f} cores busy in the second before each "
        "domain size was measured (sampled from /proc/stat while the bench was idle); anything well above "
        "zero lowers the numbers below."
    )


def render(run: Run, *, workers: int, threads: int) -> str:
    machine = run.machine
    measured = [backend for backend in run.backends if backend.sizes]
    versions = ", ".join(backend.version for backend in measured if backend.version)
    largest = max(run.sizes)
    conns = " and ".join(str(count) for count in run.connections)
    max_client_cpu = max(
        (
            result.client_cpu
            for b in measured
            for s in b.sizes
            for loads in s.loads.values()
            for result in loads
            if result.client_cpu is not None
        ),
        default=0.0,
    )
    out = [
        "## API read path: DescribeSpeaker and ListSpeakers",
        "",
        f"_Written by `make bench` on {run.started_at:%Y-%m-%d %H:%M} UTC; the run took "
        f"{_minutes(run.seconds)}._",
        "",
        "**How to run:** `make bench` runs every benchmark group; `.venv/bin/python -m bench --only api` runs "
        "this one alone (both databases, 1,000 and 1,000,000 speakers, about 10 minutes), and `--only api "
        "--sizes 1000` is a quick run; `--help` lists the options. PostgreSQL is skipped, with a message, when "
        "127.0.0.1:5432 does not answer.",
        "",
        "### Machine",
        "",
        f"- {machine['cpu']}, {machine['cores']} cores, {machine['memory']} memory, {machine['os']}.",
        f"- Python {machine['python']}, Django {machine['django']}, gunicorn {machine['gunicorn']} "
        f"({workers} workers x {threads} threads, as `make run` serves).",
        f"- {versions}; both on this machine, PostgreSQL over TCP on 127.0.0.1 in its stock configuration.",
        f"- The load generator, gunicorn and PostgreSQL **share the same {machine['cores']} cores**: the "
        f"client took up to {max_client_cpu:.2f} of a core, so absolute requests/s are lower than on a "
        "dedicated server. Compare rows with each other rather than with another machine.",
        _background(measured),
        "",
        "### Method",
        "",
        "- Each database starts empty (a throwaway `var/bench/` for SQLite; a dedicated `voiceid_bench` "
        "PostgreSQL database, dropped afterwards) and is migrated. For each size, smallest first, a domain "
        "is created through `domains.services.domain_create` and bulk-loaded with ENROLLED speakers, each "
        "CustomerSpeakerId sealed under the domain's data key and indexed by its keyed hash as the model does "
        "(SQLite: `executemany` in 50,000-row transactions; PostgreSQL: `COPY`, then `VACUUM ANALYZE` as "
        "autovacuum would). The smaller domain stays in the table while the larger one is measured.",
        f"- gunicorn serves the seeded database with `DEBUG=false` and `LOG_LEVEL=WARNING` (at INFO the API "
        f"writes one log line per request). Each request is SigV4-signed once with botocore and replayed over "
        f"keep-alive `http.client` connections: {conns} closed-loop client(s) (send, wait for the answer, "
        "send again). Every answer must be 200, and the pages are checked to hold the expected speakers before timing.",
        f"- DescribeSpeaker cycles through {DESCRIBE_SAMPLE} GeneratedSpeakerIds spread evenly over the domain. "
        f"ListSpeakers asks for MaxResults={PAGE_SIZE}; the *first page* has no NextToken, the *deep page* "
        f"a NextToken positioned {2 * PAGE_SIZE} speakers before the end of the domain "
        f"(e.g. after speaker {largest - 2 * PAGE_SIZE:,} of {largest:,}; a full page and a NextToken "
        f"follow), the *last page* one {LAST_PAGE_ROWS} speakers before the end (a short final page, no "
        "NextToken). NextTokens are signed with the server's key through "
        "`voiceid_site.awsjson.pagination.encode`.",
        "- Once the bigger domain is loaded, the last page of the smaller domain (whose speakers all have "
        "lower ids) is measured again: a page of a domain that shares its table with a bigger one.",
        f"- Each row is {run.rounds} interleaved round(s) (every scenario, then again), each "
        f"{run.warmup_seconds:g} s of warm-up and {run.duration_seconds:g} s measured, so a burst of outside "
        "load hits all scenarios alike. req/s is the median round (range in brackets); latency is measured "
        "at the client, from sending the request to reading the whole answer, p50/p99 by nearest rank over "
        "every request of every round.",
        "- gunicorn's workers race to accept connections, and a worker serves its connections on one core "
        "(the GIL). Left alone, all 4 keep-alive connections often land on one worker while the other idles, "
        "halving req/s from one run to the next; the bench reopens connections until they are spread evenly "
        "(checked through /proc), which is the steady state of many clients. CPU columns come from /proc: "
        "the cores each worker (and PostgreSQL) used, and the cores used by anything else on the machine "
        "(other users' jobs, and kernel time for loopback networking), the noise in that row.",
        "",
    ]
    for backend in run.backends:
        out += [f"### {backend.title}", ""]
        if backend.skipped:
            out += [f"Skipped: {backend.skipped}", ""]
            continue
        out += [*_load_table(backend, run.connections), ""]
        for sentence in _verdict(backend):
            out += [sentence, ""]
    if measured:
        out += [
            "### The page query alone",
            "",
            "The selectors the API calls (`speakers.selectors.speaker_list` / `speaker_get`), timed in one "
            "Django process with no HTTP, authentication or JSON around them (up to 300 calls or 3 s each, "
            "after a warm-up), p50 / p99 in ms: this is the part keyset paging is meant to keep constant. "
            "SQLite's connection is kept open here, as PostgreSQL's is in the server (CONN_MAX_AGE); the "
            "server opens a new SQLite connection for every request.",
            "",
            *_probe_table(measured),
            "",
        ]
        for backend in measured:
            size_run = backend.sizes[-1]
            for key, plan in size_run.plans.items():
                if key not in ("deep_page", "neighbour_last_page"):
                    continue  # the first and last pages of the big domain plan like its deep page
                out += [
                    f"<details><summary>{backend.title}: plan of the {_label(key, size_run)} query with "
                    f"{size_run.table_rows:,} speakers in the table</summary>",
                    "",
                    "```",
                    plan.strip(),
                    "```",
                    "",
                    "</details>",
                    "",
                ]
    return "\n".join(out)


# The sweeper group.

# Growth of the sweep process's RSS high-water mark from the smallest to the largest domain, below which
# memory counts as flat: even a list of the extra speakers' ids alone (36 bytes each as Python ints)
# would add ~30 MiB from 100,000 to 1,000,000 speakers.
_FLAT_MIB = 8.0
_ID_BYTES = 36


def _mib(value: float) -> str:
    return f"{value:.1f}"


def _counts(counts: dict[str, int]) -> str:
    """{"domains_erased": 1, "speakers_deleted": 20000} → "1 domain erased, 20,000 speakers deleted"."""
    said = []
    for key, value in counts.items():
        if value:
            noun, _, verb = key.partition("_")
            said.append(
                " ".join(filter(None, [f"{value:,}", noun.removesuffix("s") if value == 1 else noun, verb]))
            )
    return ", ".join(said) or "nothing"


def _sweep_row(label: str, where: str, measured: SweepMeasurement, *, trace: bool) -> str:
    # Throughput against what scales: the speakers in the table, or for the purge the files it deleted.
    walked = measured.rows_before or measured.counts.get("files_deleted", 0)
    cells = [
        label,
        where,
        _counts(measured.counts),
        f"{measured.seconds:,.2f}",
        f"{walked / measured.seconds:,.0f}" if measured.seconds and walked else "-",
        f"{measured.transactions:,}",
        f"{_ms(measured.transaction_p50_ms)} / {_ms(measured.transaction_max_ms)}"
        if measured.transactions
        else "-",
        f"{_ms(measured.statement_max_ms)} ({measured.statement_max_verb}"
        f"{' in a batch' if measured.statement_max_in_transaction else ', no transaction'})",
        f"{measured.rss_baseline_mib:.0f} → {measured.rss_peak_mib:.0f} (+{_mib(measured.rss_growth_mib)})",
    ]
    if trace:
        cells.append(_mib(measured.traced_peak_mib) if measured.traced_peak_mib is not None else "-")
    cells.append(_cores(measured.background_cores))
    return "| " + " | ".join(cells) + " |"


def _sweep_table(backend: SweepBackend, *, trace: bool) -> list[str]:
    header = [
        "Sweep",
        "Speakers in table",
        "Did",
        "Wall time s",
        "Speakers (purge: files) per s",
        "Transactions",
        "Transaction p50 / max ms",
        "Longest statement ms (what)",
        "RSS high-water MiB: before → after (growth)",
    ]
    if trace:
        header.append("Python heap peak MiB")
    header.append("Other load (cores)")
    lines = ["| " + " | ".join(header) + " |", "|---|--:|---|" + "--:|" * (len(header) - 3)]
    for key, label in SWEEP_SCENARIOS.items():
        for sized in backend.sizes:
            if key in sized.measurements:
                lines.append(_sweep_row(label, f"{sized.size:,}", sized.measurements[key], trace=trace))
    if backend.purge:
        lines.append(_sweep_row("Purge stored audio of deleted speakers", "-", backend.purge, trace=trace))
    return lines


def _sweep_verdict(backend: SweepBackend) -> list[str]:
    runs = [(sized.size, m) for sized in backend.sizes for m in sized.measurements.values()]
    if not runs:
        return []
    growth = [
        (sized.size, max(m.rss_growth_mib for m in sized.measurements.values())) for sized in backend.sizes
    ]
    (small, small_growth), (large, large_growth) = growth[0], growth[-1]
    memory = (
        "the sweep process's RSS high-water mark grew by at most "
        + ", ".join(f"{_mib(mib)} MiB at {size:,}" for size, mib in growth)
        + " speakers"
    )
    if len(growth) < 2:
        out = [f"Only one domain size was measured: {memory}."]
    elif large_growth - small_growth <= _FLAT_MIB:
        extra = (large - small) * _ID_BYTES / 2**20
        out = [
            f"**Memory stays flat as the domain grows:** {memory}; a list of the {large - small:,} extra "
            f"speakers' ids alone would have added ~{extra:.0f} MiB."
        ]
    else:
        out = [f"**Memory grows with the domain:** {memory}."]
    longest_size, longest = max(runs, key=lambda run: run[1].transaction_max_ms)
    statement_size, statement = max(runs, key=lambda run: run[1].statement_max_ms)
    out.append(
        f"**The longest batch transaction took {_ms(longest.transaction_max_ms)} ms** "
        f"({_scenario_name(longest.scenario)}, {longest_size:,} speakers, batches of {longest.batch_size:,}): "
        "the longest any sweep held "
        + (
            "SQLite's write lock, while other writers wait (up to the 20 s `timeout`) and readers carry on."
            if backend.key == "sqlite"
            else "a batch's row locks, which only writers to those same rows wait for; readers never do."
        )
        + f" The longest single statement took {_ms(statement.statement_max_ms)} ms, "
        + (
            f"{'an' if statement.statement_max_verb[:1] in 'AEIOU' else 'a'} {statement.statement_max_verb} "
            "inside a batch"
            if statement.statement_max_in_transaction
            else f"a {statement.statement_max_verb} on its own, outside any transaction"
        )
        + f" ({_scenario_name(statement.scenario)}, {statement_size:,} speakers)."
    )
    if len(backend.sizes) >= 2:
        small_run, large_run = backend.sizes[0], backend.sizes[-1]
        factor = large_run.size / small_run.size
        growth = [
            f"x{large_run.measurements[key].seconds / small_run.measurements[key].seconds:.1f} for "
            f"{_scenario_name(key)}"
            for key in SWEEP_SCENARIOS
            if key in small_run.measurements and key in large_run.measurements
        ]
        out.append(
            f"From {small_run.size:,} to {large_run.size:,} speakers (x{factor:g}) the wall time grows "
            + ", ".join(growth)
            + "."
        )
    return out


def _scenario_name(key: str) -> str:
    return {"expire": "expiry", "expire_idle": "expiry with nothing due", "erase": "erasure"}.get(
        key, "purge"
    )


def render_sweepers(run: SweepRun) -> str:
    machine = run.machine
    measured = [backend for backend in run.backends if backend.sizes]
    versions = ", ".join(backend.version for backend in measured if backend.version)
    sizes = " and ".join(f"{size:,}" for size in run.sizes)
    out = [
        "## Retention sweepers: expire speakers, erase domains, purge audio",
        "",
        f"_Written by `make bench` on {run.started_at:%Y-%m-%d %H:%M} UTC; the run took "
        f"{_minutes(run.seconds)}._",
        "",
        "**How to run:** `.venv/bin/python -m bench --only sweepers` (both databases, 100,000 and 1,000,000 "
        "speakers; most of the time goes into loading the speakers), or `--only sweepers --sweep-sizes "
        "100000 --databases sqlite` for a quick run.",
        "",
        "### Machine",
        "",
        f"- {machine['cpu']}, **{machine['cores']} cores shared** by the sweep and the database server, "
        f"{machine['memory']} memory, {machine['os']}; Python {machine['python']}, Django {machine['django']}.",
        f"- {versions}; PostgreSQL over TCP on 127.0.0.1 in its stock configuration.",
        "",
        "### Method",
        "",
        f"- For each database and size ({sizes} speakers) an empty database is migrated and one domain is "
        "bulk-loaded as for the API benchmark (CustomerSpeakerIds sealed and indexed). Every other speaker "
        "was last accessed a month beyond the expiry period (3 years), the others a month ago; all were "
        "created before the period, so only the last access decides.",
        "- Each sweep runs once, in a fresh `python -m bench.prepare sweep` process that calls the sweeper "
        "(`jobs.sweepers.expire_speakers`, `erase_domains`, `purge_audio`) as the scheduled task does, with "
        f"the default `VOICEID_SWEEP_BATCH_SIZE` ({_batch(measured)}). In order: expiry (half the speakers due); "
        "expiry again, with nothing left to do (the daily run from then on); erasure of the domain, which "
        "was first made SUSPENDED 31 days ago (the erase period is 30 days) and still holds every speaker.",
        "- *Memory*: the process's RSS high-water mark (`getrusage(RUSAGE_SELF).ru_maxrss`) just before the "
        "sweep, with Django, the sweepers and the database connection loaded, and just after it. The growth is "
        "the most the sweep ever held at once; PostgreSQL's own memory is not in it."
        + (
            " *Python heap peak* is tracemalloc's, which slows the sweeps, so their times in this run are "
            "inflated."
            if run.trace_memory
            else " (`--trace-memory` adds tracemalloc's Python heap peak, at the cost of 1.5-3x slower sweeps.)"
        ),
        "- *Transactions*: each is timed from `transaction.atomic()` turning autocommit off until it is back on "
        "after COMMIT, the longest the batch could hold its locks: on SQLite the database's write lock "
        "(every other writer waits), on PostgreSQL the batch's row locks. The reads that pick each batch's "
        "ids run outside transactions and are among the statements; the longest statement of any kind is "
        "shown.",
        f"- *Purge*: {run.erasures:,} pending `StorageErasure`s, each a deleted speaker's folder holding "
        f"{run.files_per_erasure} sealed files of {run.file_bytes // 1024} KiB in local `FileSystemStorage`; "
        "its cost follows the files to delete, not the number of speakers, so it runs once per database."
        if run.erasures
        else "- *Purge* was left out of this run (`--erasures 0`).",
        "- Other load: cores other processes kept busy in the second before each sweep (/proc/stat).",
        "",
    ]
    for backend in run.backends:
        out += [f"### {backend.title}", ""]
        if backend.skipped:
            out += [f"Skipped: {backend.skipped}", ""]
            continue
        out += [*_sweep_table(backend, trace=run.trace_memory), ""]
        for sentence in _sweep_verdict(backend):
            out += [sentence, ""]
    return "\n".join(out)


def _batch(backends: list[SweepBackend]) -> str:
    sizes = {m.batch_size for b in backends for s in b.sizes for m in s.measurements.values()}
    return ", ".join(f"{size:,}" for size in sorted(sizes)) or "?"


# The encryption group.

_CRYPTO_KINDS = {
    "plain": "Unencrypted: copy the bytes",
    "open_cached": "Open, data key cached",
    "open_cold": "Open, first read (cold cache)",
    "seal": "Seal, key generation known",
    "seal_write": "Seal as the services do (read the key generation first)",
}


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def render_crypto(run: CryptoRun) -> str:
    machine = run.machine
    table: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for row in run.rows:
        table.setdefault((row["label"], row["bytes"]), {})[row["kind"]] = row
    header = ["Value", "Bytes", *_CRYPTO_KINDS.values(), "Added by decryption (p50)"]
    lines = ["| " + " | ".join(header) + " |", "|---|--:|" + "--:|" * (len(header) - 2)]
    for (label, size), kinds in table.items():
        cells = [label, f"{size:,}"]
        for kind in _CRYPTO_KINDS:
            row = kinds.get(kind)
            cells.append(f"{_us(row['p50_us'])} / {_us(row['p99_us'])}" if row else "-")
        cells.append(f"{_us(kinds['open_cached']['p50_us'] - kinds['plain']['p50_us'])}")
        lines.append("| " + " | ".join(cells) + " |")
    voiceprint = next(kinds for (label, _), kinds in table.items() if label.startswith("voiceprint"))
    cached, cold = voiceprint["open_cached"], voiceprint["open_cold"]
    customer = table.get(next((key for key in table if key[0] == "CustomerSpeakerId"), ("", 0)), {})
    verdict = (
        f"**A voiceprint read with the data key cached costs {_us(cached['p50_us'])} µs (p99 "
        f"{_us(cached['p99_us'])} µs)**, {_us(cached['p50_us'] - voiceprint['plain']['p50_us'])} µs more than "
        "the same bytes unencrypted: "
        + ("well under a millisecond." if cached["p99_us"] < 100 else "not well under a millisecond.")
        + f" The first read after the cache lapses (once per process, domain and key generation every "
        f"{run.cache_seconds} s, `VOICEID_DATA_KEY_CACHE_SECONDS`) takes {_us(cold['p50_us'])} µs "
        f"(p99 {_us(cold['p99_us'])} µs): it reads the wrapped data key and the master key from the database "
        "and unwraps them through the local keyring."
    )
    out = [
        "## Encryption at rest: cost per voiceprint read",
        "",
        f"_Written by `make bench` on {run.started_at:%Y-%m-%d %H:%M} UTC; the run took "
        f"{_minutes(run.seconds)}._",
        "",
        "**How to run:** `.venv/bin/python -m bench --only crypto` (under a minute).",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores (shared), Python {machine['python']}, "
        f"{run.version} for the key lookups of a cold read; other processes kept "
        f"{_cores(run.background_cores)} cores busy in the second before (/proc/stat). A single run on a "
        "shared machine: expect a microsecond or two of difference between runs in the cached rows.",
        "",
        "Method: `domains.envelope` called in one process, call by call, timed with `time.perf_counter_ns` "
        f"(garbage collection paused while timing; the timer's own ~{_us(run.timer_p50_us)} µs is in every "
        f"sample). {run.reads:,} calls per cached operation and {run.cold_reads:,} cold reads, each after "
        "`forget_data_keys()`, after a warm-up. A voiceprint is a sealed embedding of 256 float32s (1 KiB) or "
        "1024 (4 KiB) under a record-bound context; the unencrypted baseline is the copy `bytes(field)` makes "
        "of the same bytes once the database has answered. Sealing adds "
        f"{run.sealed_overhead_bytes} bytes per value (format, key generation, nonce, tag). A seal as the "
        "services make it first reads the domain's current key generation from the database (and locks the "
        "row inside a transaction), so that a value never lands under a key a concurrent rotation retired; "
        "the bulk loads and re-encryption name the generation instead. A CustomerSpeakerId's seal includes "
        "the keyed hash it is looked up by. Times in µs, p50 / p99:",
        "",
        *lines,
        "",
        verdict,
        "",
    ]
    if customer:
        page = customer["open_cached"]["p50_us"] * 100
        out += [
            f"A ListSpeakers page opens 100 CustomerSpeakerIds: about {_us(page)} µs of its time "
            f"({_ms(page / 1000)} ms), and DescribeSpeaker one. A write pays "
            f"{_us(customer['seal_write']['p50_us'])} µs to seal and index a CustomerSpeakerId, nearly all of it "
            f"the generation read (the cipher and keyed hash alone: {_us(customer['seal']['p50_us'])} µs).",
            "",
        ]
    return "\n".join(out)
