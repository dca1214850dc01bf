"""The Django side of the encryption bench: what sealing costs each read and write of a domain's data.

Timed in-process, call by call, with `time.perf_counter_ns` (its own cost, ~0.1 µs, is in every sample and
shows in the unencrypted baseline). No database scale is involved: a read opens one blob with a data key
that is either cached in the process (the normal case) or, on the first read after the cache expired, is
unwrapped again through the key provider.
"""

from __future__ import annotations

import array
import gc
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# A voiceprint: an embedding of this many float32s (256 → 1 KiB, 1024 → 4 KiB).
EMBEDDING_FLOATS = (256, 1024)
CUSTOMER_ID = "bench-caller-000000042"  # the shape of the CustomerSpeakerIds the API bench loads


def _log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def _timed(
    call: Callable[[], object], count: int, *, before: Callable[[], object] | None = None
) -> list[int]:
    """`count` timings of `call` in ns; `before` runs ahead of each one, outside the timing."""
    for _ in range(min(count, 200)):  # warm-up: caches, branch predictors, lazily built objects
        if before:
            before()
        call()
    samples = []
    gc.disable()  # a collection landing in one sample is not the cost of the call being measured
    try:
        for _ in range(count):
            if before:
                before()
            started = time.perf_counter_ns()
            call()
            samples.append(time.perf_counter_ns() - started)
    finally:
        gc.enable()
    return samples


def _row(label: str, size: int, kind: str, samples: list[int]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "label": label,
        "bytes": size,
        "kind": kind,
        "count": len(ordered),
        "p50_us": statistics.median(ordered) / 1000,
        "p99_us": ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] / 1000,
        "mean_us": statistics.fmean(ordered) / 1000,
    }


def measure_crypto(reads: int, cold_reads: int) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    from domains import envelope
    from domains import services as domain_services

    domain = domain_services.domain_create(name="crypto", kms_key_id="alias/bench", region="us-east-1")
    generation = domain.key_generation
    rng = random.Random(0)
    rows: list[dict[str, Any]] = []

    def measure(label: str, size: int, calls: dict[str, Callable[[], object]]) -> None:
        for kind, call in calls.items():
            if kind == "open_cold":
                rows.append(
                    _row(label, size, kind, _timed(call, cold_reads, before=envelope.forget_data_keys))
                )
            else:
                rows.append(_row(label, size, kind, _timed(call, reads)))
        _log(f"{label}: " + ", ".join(f"{row['kind']} {row['p50_us']:.1f} µs" for row in rows[-len(calls) :]))

    for floats in EMBEDDING_FLOATS:
        plaintext = array.array("f", (rng.gauss(0, 1) for _ in range(floats))).tobytes()
        # The shape of the context a voiceprint would be sealed under: model, record id, attribute.
        context = "voiceprints.voiceprint:id#bench0000000000000000000:embedding"
        blob = envelope.seal(domain, plaintext, context=context)
        if envelope.open_sealed(domain, blob, context=context) != plaintext:
            raise RuntimeError("a sealed voiceprint did not open to what was sealed")
        stored = memoryview(plaintext)  # PostgreSQL hands a BinaryField back as a memoryview

        def open_blob(blob: bytes = blob, context: str = context) -> bytes:
            return envelope.open_sealed(domain, blob, context=context)

        measure(
            f"voiceprint, {floats} float32",
            len(plaintext),
            {
                # Reading the same bytes unencrypted, once the database has answered: the copy that
                # `bytes(field)` makes.
                "plain": lambda stored=stored: bytes(stored),
                "open_cached": open_blob,
                "open_cold": open_blob,
                # The cipher alone, and a write as the services make it: seal() first reads the domain's
                # current key generation from the database (locking the row inside a transaction).
                "seal": lambda p=plaintext, c=context: envelope.seal(
                    domain, p, context=c, generation=generation
                ),
                "seal_write": lambda p=plaintext, c=context: envelope.seal(domain, p, context=c),
            },
        )

    # The CustomerSpeakerId of every speaker DescribeSpeaker or ListSpeakers returns (100 to a page).
    context = "speakers.speaker:id#bench0000000000000000000:customer_speaker_id"
    sealed_id = envelope.seal_text(domain, CUSTOMER_ID, context=context)
    stored_id = CUSTOMER_ID.encode()

    def open_id() -> str:
        return envelope.open_text(domain, sealed_id, context=context)

    measure(
        "CustomerSpeakerId",
        len(stored_id),
        {
            "plain": stored_id.decode,
            "open_cached": open_id,
            "open_cold": open_id,
            # A write stores the sealed value and the keyed hash it is looked up by.
            "seal": lambda: (
                envelope.seal_text(domain, CUSTOMER_ID, context=context, generation=generation),
                envelope.index_digest(domain, CUSTOMER_ID, generation=generation),
            ),
            "seal_write": lambda: (
                envelope.seal_text(domain, CUSTOMER_ID, context=context),
                envelope.index_digest(domain, CUSTOMER_ID),
            ),
        },
    )
    timer = _timed(lambda: None, reads)
    return {
        "rows": rows,
        "timer_p50_us": statistics.median(timer) / 1000,
        "cache_seconds": settings.VOICEID_DATA_KEY_CACHE_SECONDS,
        "vendor": connection.vendor,
        "provider": "local keyring",
        "sealed_overhead_bytes": len(sealed_id) - len(stored_id),
    }
