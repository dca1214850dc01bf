"""Evaluating an uploaded recording against a speaker: the demo callers' later calls ACCEPT, the fraudster's
recording is REJECTed and HIGH_RISK, bad audio is a form error, and nothing is stored or counted as access."""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from accounts import roles
from calls import recordings
from calls.models import Session
from domains import services as domain_services
from domains.models import Domain
from fraudsters import screening
from speakers.models import Speaker
from voiceid_site import demo
from voiceprints import audio

pytestmark = pytest.mark.django_db
ALICE, BOB = demo.CALLERS[0], demo.CALLERS[1]


@pytest.fixture(autouse=True)
def _fresh_screening_cache() -> None:
    screening.forget()  # rolled-back test databases reuse watchlist primary keys


@pytest.fixture
def domain() -> Domain:
    return domain_services.domain_create(name="Retail bank", kms_key_id="alias/evaluate", region="us-east-1")


@pytest.fixture
def seeded(domain: Domain) -> Domain:
    demo.seed_voices(domain)
    return domain


def _signed_in(client: Any, django_user_model: Any, group: str) -> Any:
    user = django_user_model.objects.create_user(group.lower(), password="pw")
    roles.ensure_roles()
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def auditor(client: Any, django_user_model: Any) -> Any:
    """An auditor: evaluating changes nothing, so the read-only role may do it."""
    return _signed_in(client, django_user_model, roles.AUDITORS)


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.CANONICAL_RATE)
        out.writeframes(audio.pcm16_bytes(samples))
    return buffer.getvalue()


def _evaluate(client: Any, domain: Domain, speaker_id: str, data: bytes, name: str = "call.wav") -> Any:
    upload = SimpleUploadedFile(name, data, content_type="audio/wav")
    return client.post(
        reverse("calls:evaluate"),
        {"domain": domain.domain_id, "speaker_id": speaker_id, "recording": upload, "channel": "0"},
    )


def test_an_enrolled_callers_later_call_is_accepted_and_not_counted_as_an_access(
    auditor: Any, seeded: Domain
) -> None:
    speaker = Speaker.objects.get(
        domain=seeded, status=Speaker.Status.ENROLLED, pk=_pk_of(seeded, ALICE.name)
    )
    accessed_before = speaker.last_accessed_at
    speakers_before, sessions_before = Speaker.objects.count(), Session.objects.count()

    response = _evaluate(auditor, seeded, ALICE.name, _wav(ALICE.call_audio()))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-decision="authentication">ACCEPT<' in html
    assert 'data-decision="fraud">LOW_RISK<' in html
    assert "against the acceptance threshold 90" in html
    assert 'class="gauge gauge-ok"' in html
    assert " s of audio (at least 10 s needed to decide)" in html
    assert "does not count as an access" in html
    assert "style=" not in html
    # Nothing stored: no session, no speaker, and the speaker's last access unchanged.
    speaker.refresh_from_db()
    assert speaker.last_accessed_at == accessed_before
    assert (Speaker.objects.count(), Session.objects.count()) == (speakers_before, sessions_before)


def _pk_of(domain: Domain, customer_speaker_id: str) -> int:
    from speakers import selectors

    found = selectors.speaker_find(domain=domain, speaker_id=customer_speaker_id)
    assert found is not None
    return found.pk


def test_the_fraudsters_recording_is_rejected_and_high_risk(auditor: Any, seeded: Domain) -> None:
    response = _evaluate(auditor, seeded, BOB.name, _wav(demo.FRAUDSTER.call_audio()))
    html = response.content.decode()
    assert 'data-decision="authentication">REJECT<' in html
    assert 'data-decision="fraud">HIGH_RISK<' in html
    assert "against the risk threshold 50" in html
    fraudster_id = seeded.fraudsters.get().generated_fraudster_id
    fraudster_url = reverse("fraudsters:detail", args=[seeded.domain_id, fraudster_id])
    assert f'<a href="{fraudster_url}">{fraudster_id}</a>' in html  # the closest fraudster, one click away


def test_the_service_decides_as_a_call_would_and_takes_generated_ids(seeded: Domain) -> None:
    alice = _pk_of(seeded, ALICE.name)
    generated = Speaker.objects.get(pk=alice).generated_speaker_id
    result = recordings.recording_evaluate(domain=seeded, speaker_id=generated, wav=_wav(ALICE.call_audio()))
    assert result.authentication_decision == "ACCEPT"
    assert result.authentication.score is not None and result.authentication.score >= 90
    assert result.net_speech_seconds >= 10
    unknown = recordings.recording_evaluate(domain=seeded, speaker_id="nobody", wav=_wav(ALICE.call_audio()))
    assert unknown.authentication_decision == "SPEAKER_NOT_ENROLLED"
    assert unknown.speaker is None
    short = recordings.recording_evaluate(
        domain=seeded, speaker_id=ALICE.name, wav=_wav(ALICE.call_audio()[: 3 * audio.CANONICAL_RATE])
    )
    assert (short.authentication_decision, short.fraud_decision) == ("NOT_ENOUGH_SPEECH", "NOT_ENOUGH_SPEECH")
    assert not Speaker.objects.filter(domain=seeded, status=Speaker.Status.PENDING).exists()


def test_an_opted_out_speaker_is_not_scored(auditor: Any, seeded: Domain) -> None:
    from speakers import services

    services.speaker_opt_out(domain=seeded, speaker_id=ALICE.name)
    html = _evaluate(auditor, seeded, ALICE.name, _wav(ALICE.call_audio())).content.decode()
    assert 'data-decision="authentication">SPEAKER_OPTED_OUT<' in html
    assert "No score: SPEAKER_OPTED_OUT." in html


def test_an_mp3_upload_is_a_form_error_beside_the_field(auditor: Any, domain: Domain) -> None:
    mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(4000)
    response = _evaluate(auditor, domain, "alice", mp3, name="call.mp3")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="field has-error"' in html
    assert "RIFF" in html or "WAV" in html
    # What was wrong, then what this form takes (WAV only: not the raw PCM a live call may also send).
    assert (
        "Accepted here: WAV with 8-48 kHz PCM, float or G.711 audio"
        in html.split('class="field has-error"')[1]
    )
    assert "raw 16-bit" not in html
    assert "data-decision" not in html


def test_a_recording_over_20_mb_is_refused_before_decoding(
    auditor: Any, domain: Domain, monkeypatch: Any
) -> None:
    monkeypatch.setattr(recordings, "MAX_RECORDING_BYTES", 1000)
    response = _evaluate(auditor, domain, "alice", bytes(2000))
    assert response.status_code == 400
    assert escape(recordings.TOO_LARGE) in response.content.decode()


def test_the_form_names_the_domain_and_says_it_stores_nothing(auditor: Any, domain: Domain) -> None:
    response = auditor.get(reverse("calls:evaluate"), {"domain": domain.domain_id})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Evaluating here does not count as an access" in html
    assert f'action="{reverse("calls:evaluate")}"' in html
    assert f'<option value="{domain.domain_id}" selected>' in html  # the domain is a field of the form
    assert 'enctype="multipart/form-data"' in html
    assert (
        '<a href="/calls/evaluate/?domain=' + domain.domain_id + '" aria-current="page">Evaluate</a>' in html
    )


def test_the_domain_chosen_in_the_form_is_the_one_evaluated_against(auditor: Any, seeded: Domain) -> None:
    other = domain_services.domain_create(name="Other bank", kms_key_id="alias/evaluate", region="us-east-1")
    upload = SimpleUploadedFile("call.wav", _wav(ALICE.call_audio()), content_type="audio/wav")
    # The page was opened for the seeded domain (its URL says so); the form then chose the other one.
    response = auditor.post(
        f"{reverse('calls:evaluate')}?domain={seeded.domain_id}",
        {"domain": other.domain_id, "speaker_id": ALICE.name, "recording": upload, "channel": "0"},
    )
    html = response.content.decode()
    assert 'data-decision="authentication">SPEAKER_NOT_ENROLLED<' in html  # alice is not enrolled there
    assert f'<option value="{other.domain_id}" selected>' in html


@pytest.mark.parametrize("posted", ["A" * 22, ""])
def test_a_domain_missing_from_the_form_is_an_error_beside_its_field(
    auditor: Any, domain: Domain, posted: str
) -> None:
    upload = SimpleUploadedFile("call.wav", _wav(ALICE.call_audio()), content_type="audio/wav")
    response = auditor.post(
        f"{reverse('calls:evaluate')}?domain={domain.domain_id}",
        {"domain": posted, "speaker_id": ALICE.name, "recording": upload, "channel": "0"},
    )
    assert response.status_code == 400
    assert 'class="field has-error"' in response.text.split('name="domain"')[0].rsplit("<div", 1)[1]
    assert "data-decision" not in response.text  # not evaluated against the URL's domain instead


def test_the_domains_own_session_thresholds_decide(auditor: Any, seeded: Domain) -> None:
    seeded.session_acceptance_threshold = 100
    seeded.save(update_fields=["session_acceptance_threshold"])
    html = _evaluate(auditor, seeded, ALICE.name, _wav(ALICE.call_audio())).content.decode()
    assert "against the acceptance threshold 100." in html


def test_without_domains_the_page_says_what_to_do(auditor: Any) -> None:
    html = auditor.get(reverse("calls:evaluate")).content.decode()
    assert "No domains yet" in html


def test_a_user_without_a_role_may_not_evaluate(client: Any, django_user_model: Any, domain: Domain) -> None:
    client.force_login(django_user_model.objects.create_user("nobody", password="pw"))
    response = _evaluate(client, domain, "alice", b"RIFF")
    assert response.status_code == 403
    assert "permission to view speakers" in response.content.decode()
