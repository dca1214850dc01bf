"""Chunks of one call racing each other: each applied exactly once, on the state the chunks before it left.

PutSessionAudio works a chunk outside any transaction and saves it only if no other chunk of the call was
saved meanwhile (calls/services.py). These tests make chunks lose that race on purpose, deterministically (a
second chunk is put while the first one is being worked) and with real threads, and check that every chunk
is in, in order, and that the running state is the one the chunks in their saved order give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.db import connection

from calls import evaluation, services
from calls.models import Session, SessionAudio
from tests.conftest import racing_writers
from voiceid_site import demo
from voiceprints import audio
from voiceprints.engine import CallStream

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = audio.CANONICAL_RATE // 2  # 0.5 s


@pytest.fixture
def session(domain_model: Any) -> Session:
    return services.session_start(
        domain=domain_model, session_name="race", speaker_id="alice", settings_=services.SessionSettings()
    )


@pytest.fixture(scope="module")
def chunks() -> list[bytes]:
    """Ten 0.5 s chunks of speech (PCM-16), all different."""
    pcm = audio.pcm16_bytes(demo.CALLERS[0].call_audio())
    return [pcm[i * CHUNK * 2 : (i + 1) * CHUNK * 2] for i in range(10)]


def put(session: Session, chunk: bytes) -> Session:
    return services.session_put_audio(
        domain=session.domain,
        session_name_or_id=session.session_name,
        data=chunk,
        audio_format="PCM_S16LE_8000",
    )


def streamed(chunks: list[bytes]) -> CallStream:
    """The stream the chunks give in this order, its state saved and restored after each, as the server does."""
    state = b""
    for chunk in chunks:
        stream = CallStream.from_bytes(state)
        stream.append(audio.pcm16_samples(chunk))
        state = stream.to_bytes()
    return CallStream.from_bytes(state)


def stored_chunks(session: Session) -> list[bytes]:
    rows = SessionAudio.objects.filter(session=session).order_by("sequence")
    assert [row.sequence for row in rows] == list(range(1, len(rows) + 1))
    return [audio.pcm16_bytes(audio.pcm16_samples(row.pcm)) for row in rows]


def interfere(monkeypatch: pytest.MonkeyPatch, times: int, action: Callable[[], object]) -> list[int]:
    """Run `action` (which commits another write) while the chunk being put is worked, `times` times.

    Returns how many chunks the session had each time the chunk under test was worked."""
    worked: list[int] = []
    interfering = threading.local()
    original = services._stream_with

    def stream_with(session: Session, samples: np.ndarray) -> tuple[bytes, float]:
        if getattr(interfering, "active", False):
            return original(session, samples)  # the interfering chunk itself goes straight through
        worked.append(session.chunks_received)
        result = original(session, samples)
        if len(worked) <= times:
            interfering.active = True
            try:
                action()
            finally:
                interfering.active = False
        return result

    monkeypatch.setattr(services, "_stream_with", stream_with)
    return worked


def test_a_chunk_that_loses_the_race_is_worked_again_on_the_newer_state(session, chunks, monkeypatch):
    put(session, chunks[0])
    worked = interfere(monkeypatch, 1, lambda: put(session, chunks[2]))

    answer = put(session, chunks[1])

    # chunk 1 was worked on 1 chunk, lost to chunk 2, then worked again on 2.
    assert worked == [1, 2]
    assert answer.chunks_received == 3
    assert stored_chunks(session) == [chunks[0], chunks[2], chunks[1]]
    expected = streamed([chunks[0], chunks[2], chunks[1]])
    saved = Session.objects.get(pk=session.pk)
    saved.domain = session.domain
    assert saved.speech_seconds == answer.speech_seconds == expected.speech_seconds
    np.testing.assert_array_equal(CallStream.from_bytes(saved.stream_state).vector(), expected.vector())
    assert saved.audio_seconds == pytest.approx(1.5)


def test_a_chunk_still_losing_after_the_unlocked_tries_is_worked_under_the_lock(session, chunks, monkeypatch):
    others = iter(chunks[1 : 1 + services.UNLOCKED_TRIES])
    worked = interfere(monkeypatch, services.UNLOCKED_TRIES, lambda: put(session, next(others)))

    answer = put(session, chunks[0])

    # Each unlocked try of chunk 0 let another chunk in first; the last pass ran under the row lock.
    assert worked == list(range(services.UNLOCKED_TRIES + 1))
    assert answer.chunks_received == services.UNLOCKED_TRIES + 1
    order = [*chunks[1 : 1 + services.UNLOCKED_TRIES], chunks[0]]
    assert stored_chunks(session) == order
    assert answer.speech_seconds == streamed(order).speech_seconds


def test_a_session_ended_while_a_chunk_was_worked_refuses_it(session, chunks, monkeypatch):
    interfere(monkeypatch, 1, lambda: services.session_end(domain=session.domain, session_name_or_id="race"))

    with pytest.raises(services.ValidationError, match="has ended"):
        put(session, chunks[0])

    assert not SessionAudio.objects.filter(session=session).exists()
    assert Session.objects.get(pk=session.pk).chunks_received == 0


def test_an_enrollment_requested_while_a_chunk_was_worked_is_kept(session, chunks, monkeypatch):
    interfere(
        monkeypatch, 1, lambda: services.session_enroll(domain=session.domain, session_name_or_id="race")
    )

    answer = put(session, chunks[0])

    assert answer.enrollment_status == Session.EnrollmentStatus.NOT_ENOUGH_SPEECH
    assert answer.chunks_received == 1
    assert "net speech collected" in answer.enrollment_message


@racing_writers
def test_chunks_of_one_call_sent_at_once_from_threads_are_each_applied_once(session, chunks):
    start = threading.Barrier(len(chunks))
    errors: list[BaseException] = []

    def send(chunk: bytes) -> None:
        try:
            start.wait()
            put(session, chunk)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    saved = Session.objects.get(pk=session.pk)
    saved.domain = session.domain
    order = stored_chunks(saved)
    assert sorted(order) == sorted(chunks) and saved.chunks_received == len(chunks)
    # Whatever order the saves took, the state is the one that order gives.
    expected = streamed(order)
    assert saved.speech_seconds == expected.speech_seconds
    assert saved.audio_seconds == pytest.approx(len(chunks) * 0.5)
    np.testing.assert_array_equal(CallStream.from_bytes(saved.stream_state).vector(), expected.vector())


def overtake_evaluation(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> list[object]:
    """Run `action` once, after an evaluation computed its results and before it stores them."""
    done: list[object] = []
    started: list[bool] = []
    original = evaluation._results_swap

    def results_swap(session: Session, **kwargs: Any) -> bool:
        if not started:
            started.append(True)  # before the action, which may evaluate too: it goes straight through
            done.append(action())
        return original(session, **kwargs)

    monkeypatch.setattr(evaluation, "_results_swap", results_swap)
    return done


def test_an_evaluation_that_a_chunk_overtook_starts_over_on_the_newer_session(session, chunks, monkeypatch):
    for chunk in chunks[:-1]:
        put(session, chunk)
    overtaken = overtake_evaluation(monkeypatch, lambda: put(session, chunks[-1]).chunks_received)

    result = evaluation.session_evaluate(domain=session.domain, session_name_or_id="race")

    assert overtaken == [len(chunks)]
    stored = Session.objects.get(pk=session.pk)
    assert stored.auth_result_key.startswith(f"{len(chunks)}|")  # keyed to the audio after the last chunk
    assert result.authentication["AuthenticationResultId"] == stored.auth_result_id
    assert result.fraud["FraudDetectionResultId"] == stored.fraud_result_id


def test_two_evaluations_racing_for_the_same_new_audio_store_one_result(session, chunks, monkeypatch):
    for chunk in chunks:
        put(session, chunk)
    first = overtake_evaluation(
        monkeypatch, lambda: evaluation.session_evaluate(domain=session.domain, session_name_or_id="race")
    )

    second = evaluation.session_evaluate(domain=session.domain, session_name_or_id="race")

    stored = Session.objects.get(pk=session.pk)
    assert first[0].authentication == second.authentication  # same result, same id
    assert first[0].fraud == second.fraud
    assert second.authentication["AuthenticationResultId"] == stored.auth_result_id
    assert second.fraud["FraudDetectionResultId"] == stored.fraud_result_id
