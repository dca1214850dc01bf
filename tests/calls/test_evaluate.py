"""EvaluateSession through boto3: every authentication and fraud decision, and result caching."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from domains.models import Domain
from speakers.models import Speaker, SpeakerVoiceprint
from tests.calls.conftest import call_pcm
from voiceid_site import demo

ALICE, BOB = demo.CALLERS[0], demo.CALLERS[1]


@pytest.fixture
def seeded(call_domain: dict[str, Any]) -> Domain:
    """alice, bob and carol enrolled and the demo fraudster registered (through the services, for speed)."""
    domain = Domain.objects.get(domain_id=call_domain["DomainId"])
    demo.seed_voices(domain)
    return domain


def _call(calls, stream, domain_id: str, name: str, voice: demo.DemoVoice, **start: Any) -> dict[str, Any]:
    calls.start_session(DomainId=domain_id, SessionName=name, **start)
    stream(domain_id, name, call_pcm(voice))
    return calls.evaluate_session(DomainId=domain_id, SessionNameOrId=name)


def test_the_enrolled_caller_is_accepted_with_a_score_over_the_threshold(calls, stream, seeded):
    result = _call(calls, stream, seeded.domain_id, "alice-calls", ALICE, SpeakerId="alice")
    auth = result["AuthenticationResult"]
    assert auth["Decision"] == "ACCEPT"
    assert 90 <= auth["Score"] <= 100
    assert auth["CustomerSpeakerId"] == "alice"
    assert auth["GeneratedSpeakerId"].startswith("id#")
    assert auth["Configuration"] == {"AcceptanceThreshold": 90}
    assert auth["AudioAggregationStartedAt"] <= auth["AudioAggregationEndedAt"]
    assert result["StreamingStatus"] == "ONGOING"
    assert result["FraudDetectionResult"]["Decision"] == "LOW_RISK"
    assert "VoiceSpoofingRisk" not in result["FraudDetectionResult"]["RiskDetails"]


def test_another_voice_claiming_the_caller_is_rejected(calls, stream, seeded):
    result = _call(calls, stream, seeded.domain_id, "stranger", demo.STRANGER, SpeakerId="alice")
    assert result["AuthenticationResult"]["Decision"] == "REJECT"
    assert result["AuthenticationResult"]["Score"] < 90


def test_the_fraudsters_voice_is_high_risk_and_named(calls, stream, seeded):
    result = _call(calls, stream, seeded.domain_id, "fraud", demo.FRAUDSTER, SpeakerId="bob")
    fraud = result["FraudDetectionResult"]
    assert fraud["Decision"] == "HIGH_RISK"
    assert fraud["Reasons"] == ["KNOWN_FRAUDSTER"]
    known = fraud["RiskDetails"]["KnownFraudsterRisk"]
    assert known["RiskScore"] >= 50
    assert known["GeneratedFraudsterId"] == seeded.fraudsters.get().generated_fraudster_id
    assert result["AuthenticationResult"]["Decision"] == "REJECT"


def test_too_little_speech_is_not_enough_speech_for_both(calls, seeded):
    calls.start_session(DomainId=seeded.domain_id, SessionName="short", SpeakerId="alice")
    pcm = call_pcm(ALICE)[: 8000 * 2 * 3]
    calls.put_session_audio(
        DomainId=seeded.domain_id, SessionNameOrId="short", Audio=pcm, AudioFormat="PCM_S16LE_8000"
    )
    result = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="short")
    assert result["AuthenticationResult"]["Decision"] == "NOT_ENOUGH_SPEECH"
    assert "Score" not in result["AuthenticationResult"]
    assert result["FraudDetectionResult"]["Decision"] == "NOT_ENOUGH_SPEECH"


def test_a_session_without_speaker_says_so(calls, stream, seeded):
    result = _call(calls, stream, seeded.domain_id, "anon", ALICE)
    assert result["AuthenticationResult"]["Decision"] == "SPEAKER_ID_NOT_PROVIDED"
    assert "CustomerSpeakerId" not in result["AuthenticationResult"]
    assert result["FraudDetectionResult"]["Decision"] == "LOW_RISK"


def test_a_pending_speaker_is_not_enrolled(calls, stream, seeded):
    result = _call(calls, stream, seeded.domain_id, "pending", ALICE, SpeakerId="never-enrolled")
    assert result["AuthenticationResult"]["Decision"] == "SPEAKER_NOT_ENROLLED"


def test_an_opted_out_speaker_is_never_scored(calls, stream, seeded):
    calls.opt_out_speaker(DomainId=seeded.domain_id, SpeakerId="alice")
    result = _call(calls, stream, seeded.domain_id, "opted", ALICE, SpeakerId="alice")
    assert result["AuthenticationResult"]["Decision"] == "SPEAKER_OPTED_OUT"
    assert "Score" not in result["AuthenticationResult"]
    assert not SpeakerVoiceprint.objects.filter(
        speaker__generated_speaker_id=result["AuthenticationResult"]["GeneratedSpeakerId"]
    ).exists()


def test_an_expired_speaker_is_never_scored(calls, stream, seeded):
    Speaker.objects.filter(domain=seeded, status="ENROLLED").update(status="EXPIRED")
    result = _call(calls, stream, seeded.domain_id, "expired", ALICE, SpeakerId="alice")
    assert result["AuthenticationResult"]["Decision"] == "SPEAKER_EXPIRED"
    assert "Score" not in result["AuthenticationResult"]


def test_a_deleted_speaker_is_not_enrolled(calls, stream, seeded):
    calls.start_session(DomainId=seeded.domain_id, SessionName="gone", SpeakerId="alice")
    stream(seeded.domain_id, "gone", call_pcm(ALICE))
    calls.delete_speaker(DomainId=seeded.domain_id, SpeakerId="alice")
    result = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="gone")
    assert result["AuthenticationResult"]["Decision"] == "SPEAKER_NOT_ENROLLED"


def test_results_are_cached_until_audio_threshold_or_speaker_change(calls, stream, seeded):
    domain_id = seeded.domain_id
    first = _call(calls, stream, domain_id, "cache", ALICE, SpeakerId="alice")
    again = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="cache")
    auth_id = first["AuthenticationResult"]["AuthenticationResultId"]
    fraud_id = first["FraudDetectionResult"]["FraudDetectionResultId"]
    assert again["AuthenticationResult"]["AuthenticationResultId"] == auth_id
    assert again["FraudDetectionResult"]["FraudDetectionResultId"] == fraud_id

    calls.update_session(
        DomainId=domain_id, SessionNameOrId="cache", AuthenticationConfiguration={"AcceptanceThreshold": 99}
    )
    stricter = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="cache")
    assert stricter["AuthenticationResult"]["AuthenticationResultId"] != auth_id
    assert stricter["AuthenticationResult"]["Configuration"] == {"AcceptanceThreshold": 99}
    assert stricter["FraudDetectionResult"]["FraudDetectionResultId"] == fraud_id

    calls.update_session(
        DomainId=domain_id, SessionNameOrId="cache", FraudDetectionConfiguration={"RiskThreshold": 10}
    )
    riskier = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="cache")
    assert riskier["FraudDetectionResult"]["FraudDetectionResultId"] != fraud_id
    assert (
        riskier["AuthenticationResult"]["AuthenticationResultId"]
        == stricter["AuthenticationResult"]["AuthenticationResultId"]
    )

    calls.update_session(DomainId=domain_id, SessionNameOrId="cache", SpeakerId="bob")
    other = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="cache")
    assert other["AuthenticationResult"]["CustomerSpeakerId"] == "bob"
    assert other["AuthenticationResult"]["Decision"] == "REJECT"

    stream(domain_id, "cache", call_pcm(ALICE)[:32000])
    fresh = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="cache")
    assert (
        fresh["AuthenticationResult"]["AuthenticationResultId"]
        != other["AuthenticationResult"]["AuthenticationResultId"]
    )
    assert (
        fresh["FraudDetectionResult"]["FraudDetectionResultId"]
        != riskier["FraudDetectionResult"]["FraudDetectionResultId"]
    )


def test_an_ended_session_keeps_its_final_results(calls, stream, seeded):
    first = _call(calls, stream, seeded.domain_id, "final", ALICE, SpeakerId="alice")
    calls.end_session(DomainId=seeded.domain_id, SessionNameOrId="final")
    final = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="final")
    assert final["StreamingStatus"] == "ENDED"
    assert (
        final["AuthenticationResult"]["AuthenticationResultId"]
        == first["AuthenticationResult"]["AuthenticationResultId"]
    )


def test_accept_records_the_access(calls, stream, seeded):
    long_ago = timezone.now() - timedelta(days=400)
    Speaker.objects.filter(domain=seeded).update(last_accessed_at=long_ago)
    _call(calls, stream, seeded.domain_id, "access", ALICE, SpeakerId="alice")
    speaker = calls.describe_speaker(DomainId=seeded.domain_id, SpeakerId="alice")["Speaker"]
    assert speaker["LastAccessedAt"] > long_ago
    rejected = _call(calls, stream, seeded.domain_id, "no-access", demo.STRANGER, SpeakerId="bob")
    assert rejected["AuthenticationResult"]["Decision"] == "REJECT"
    untouched = calls.describe_speaker(DomainId=seeded.domain_id, SpeakerId="bob")["Speaker"][
        "LastAccessedAt"
    ]
    assert abs(untouched - long_ago) < timedelta(seconds=1)  # a REJECT is not an access


def test_a_fraudster_taken_off_the_watchlist_is_no_longer_screened(calls, stream, seeded):
    watchlist = calls.create_watchlist(DomainId=seeded.domain_id, Name="other")["Watchlist"]
    fraudster_id = seeded.fraudsters.get().generated_fraudster_id
    calls.associate_fraudster(
        DomainId=seeded.domain_id, FraudsterId=fraudster_id, WatchlistId=watchlist["WatchlistId"]
    )
    before = _call(
        calls,
        stream,
        seeded.domain_id,
        "screen",
        demo.FRAUDSTER,
        FraudDetectionConfiguration={"WatchlistId": watchlist["WatchlistId"]},
    )
    assert before["FraudDetectionResult"]["Decision"] == "HIGH_RISK"
    calls.disassociate_fraudster(
        DomainId=seeded.domain_id, FraudsterId=fraudster_id, WatchlistId=watchlist["WatchlistId"]
    )
    after = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="screen")
    assert after["FraudDetectionResult"]["Decision"] == "LOW_RISK"
    assert "GeneratedFraudsterId" not in after["FraudDetectionResult"]["RiskDetails"]["KnownFraudsterRisk"]
