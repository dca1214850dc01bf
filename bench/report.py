"""docs/benchmarks.md: this bench owns the text between its markers and leaves the rest of the file alone."""

from __future__ import annotations

from pathlib import Path

from bench.prepare import DESCRIBE_SAMPLE, LAST_PAGE_ROWS, PAGE_SIZE
from bench.results import SCENARIOS, BackendRun, Run, SizeRun

START = "<!-- api-bench:start -->"
END = "<!-- api-bench:end -->"
_PREAMBLE = """# Benchmarks

Measurements of voiceid on real hardware. Each benchmark rewrites only its own section, between its
`<!-- NAME:start -->` and `<!-- NAME:end -->` markers; add new benchmarks as new sections.
"""
# Per-page times within this factor of each other are called flat: single-run noise on a shared 2-core
# machine is of this order.
_FLAT = 1.3


def write(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else _PREAMBLE
    block = f"{START}\n{section.strip()}\n{END}"
    if START in text and END in text and text.index(START) < text.index(END):
        before, rest = text.split(START, 1)
        text = before + block + rest.split(END, 1)[1]
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
        "**How to run:** `make bench` (both databases, 1,000 and 1,000,000 speakers, about 10 minutes) or "
        "`.venv/bin/python -m bench --sizes 1000` for a quick run; `--help` lists the options. PostgreSQL is "
        "skipped, with a message, when 127.0.0.1:5432 does not answer.",
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
        "is created through `domains.services.domain_create` and bulk-loaded with ENROLLED speakers (SQLite: "
        "`executemany` in 50,000-row transactions; PostgreSQL: `COPY`, then `VACUUM ANALYZE` as autovacuum "
        "would). The smaller domain stays in the table while the larger one is measured.",
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
