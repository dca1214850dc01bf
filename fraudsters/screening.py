"""1:N screening of a caller against a watchlist, with each process caching the watchlist's matrix.

Decrypting and stacking a watchlist's voiceprints costs a query and a decryption per fraudster, so each
process keeps the built index and reuses it while the watchlist's `screening_version` is unchanged;
every change to what a watchlist screens (fraudsters.services) bumps that version, so a stale matrix is
never searched. Checking the version is one indexed read per evaluation.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from django.db.models import QuerySet

from fraudsters.models import FraudsterVoiceprint, Watchlist
from voiceprints.engine import Voiceprint
from voiceprints.index import Match, VoiceprintIndex

if TYPE_CHECKING:
    from domains.models import Domain

_lock = threading.Lock()
_cache: dict[int, tuple[int, VoiceprintIndex]] = {}


def _build(watchlist: Watchlist) -> VoiceprintIndex:
    return _index_of(
        FraudsterVoiceprint.objects.filter(fraudster__memberships__watchlist=watchlist), watchlist.domain
    )


def _index_of(rows: QuerySet[FraudsterVoiceprint], domain: Domain) -> VoiceprintIndex:
    ids, vectors, means, stds = [], [], [], []
    for row in rows.select_related("fraudster"):
        row.domain = domain  # already loaded: spare the query sealing would make
        voiceprint = Voiceprint.unpack(row.packed)
        ids.append(row.fraudster.generated_fraudster_id)
        vectors.append(voiceprint.vector)
        means.append(voiceprint.cohort.mean)
        stds.append(voiceprint.cohort.std)
    return VoiceprintIndex.build(
        ids=ids,
        vectors=np.asarray(vectors, dtype=np.float32) if ids else np.zeros((0, 0), np.float32),
        cohort_means=np.asarray(means, dtype=np.float32),
        cohort_stds=np.asarray(stds, dtype=np.float32),
    )


def watchlist_index(watchlist: Watchlist) -> VoiceprintIndex:
    """The watchlist's fraudster voiceprints as one matrix, as of `watchlist.screening_version`.

    The caller passes the watchlist as it just read it (EvaluateSession does, in its own transaction), so
    the version it keys its cached result on and the matrix it searches agree without a second read.
    """
    version = watchlist.screening_version
    cached = _cache.get(watchlist.pk)
    if cached is not None and cached[0] == version:
        return cached[1]
    index = _build(watchlist)
    with _lock:
        _cache[watchlist.pk] = (version, index)
    return index


def domain_search(domain: Domain, voiceprint: Voiceprint) -> Match | None:
    """The closest fraudster of the whole domain, in any watchlist: the registration jobs' duplicate check.

    Built fresh each time (a registration job adds fraudsters as it goes, and has at most 500 entries).
    """
    index = _index_of(FraudsterVoiceprint.objects.filter(domain=domain), domain)
    return index.search(voiceprint.vector, voiceprint.cohort)


def forget() -> None:
    """Drop every cached matrix (tests; primary keys are reused by rolled-back test databases)."""
    with _lock:
        _cache.clear()
