"""The session operations through boto3: start, stream, describe, update, end, and their errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.calls.conftest import call_pcm
from voiceid_site import demo
from voiceprints import audio


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return excinfo.value.response["Error"] | {
        k: v for k, v in excinfo.value.response.items() if k not in ("Error", "ResponseMetadata")
    }


def test_a_new_session_waits_for_audio_then_streams_then_ends(calls, call_domain, stream):
    domain_id = call_domain["DomainId"]
    started = calls.start_session(DomainId=domain_id, SessionName="contact-1")["Session"]
    assert started["StreamingStatus"] == "PENDING_CONFIGURATION"
    assert started["SessionId"].startswith("id#")
    assert started["AuthenticationConfiguration"] == {"AcceptanceThreshold": 90, "MinimumSpeechInSeconds": 10}
    assert started["FraudDetectionConfiguration"] == {
        "RiskThreshold": 50,
        "WatchlistId": call_domain["WatchlistDetails"]["DefaultWatchlistId"],
    }

    answer = stream(domain_id, "contact-1", call_pcm(demo.CALLERS[0]))
    assert answer["StreamingStatus"] == "ONGOING"
    assert 3 < answer["NetSpeechInSeconds"] <= answer["AudioReceivedInSeconds"]

    by_id = calls.describe_session(DomainId=domain_id, SessionNameOrId=started["SessionId"])["Session"]
    assert by_id["SessionName"] == "contact-1"
    assert by_id["NetSpeechInSeconds"] == answer["NetSpeechInSeconds"]

    ended = calls.end_session(DomainId=domain_id, SessionNameOrId="contact-1")["Session"]
    assert ended["StreamingStatus"] == "ENDED"
    with pytest.raises(ClientError) as refused:
        stream(domain_id, "contact-1", b"\0\0" * 800)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "has ended" in refused.value.response["Error"]["Message"]


def test_silence_is_not_speech(calls, call_domain, stream):
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="quiet")
    answer = stream(call_domain["DomainId"], "quiet", b"\0\0" * audio.CANONICAL_RATE * 4)
    assert answer["AudioReceivedInSeconds"] == 4.0
    assert answer["NetSpeechInSeconds"] == 0.0


def test_a_wav_chunk_in_another_rate_and_codec_is_accepted(calls, call_domain):
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="wav")
    samples = demo.CALLERS[1].call_audio()
    wav = audio.encode_wav(samples, audio.CANONICAL_RATE, encoding="ulaw")
    answer = calls.put_session_audio(
        DomainId=call_domain["DomainId"], SessionNameOrId="wav", Audio=wav, AudioFormat="WAV"
    )
    assert answer["NetSpeechInSeconds"] > 3


def test_audio_that_is_not_audio_is_refused_with_what_is_accepted(calls, call_domain):
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="mp3")

    def refusal(audio: bytes, audio_format: str, **extra: int) -> dict[str, str]:
        with pytest.raises(ClientError) as refused:
            calls.put_session_audio(
                DomainId=call_domain["DomainId"],
                SessionNameOrId="mp3",
                Audio=audio,
                AudioFormat=audio_format,
                **extra,
            )
        error = refused.value.response["Error"]
        assert error["Code"] == "ValidationException"
        return error

    error = refusal(b"ID3\x03\x00\x00\x00" + b"\xff\xfb" * 400, "WAV")
    assert error["Message"].startswith("Audio:")
    assert "accepted: WAV (RIFF/WAVE)" in error["Message"]
    assert error["Message"].endswith("with AudioFormat PCM_S16LE_8000.")  # the other format a call may send
    odd = refusal(b"\0\0\0", "PCM_S16LE_8000")
    assert "PCM_S16LE_8000." not in odd["Message"]  # it was sent as raw PCM already
    stereo = refusal(b"\0\0", "PCM_S16LE_8000", ChannelId=1)
    assert stereo["Message"].startswith(
        "Audio: ChannelId 1 was given for PCM_S16LE_8000 audio, which is mono: send ChannelId 0 or omit it; "
    )
    described = calls.describe_session(DomainId=call_domain["DomainId"], SessionNameOrId="mp3")["Session"]
    assert described["AudioReceivedInSeconds"] == 0  # nothing half-written


def test_audio_that_is_not_base64_or_in_an_unknown_format_is_refused(raw_calls, call_domain, signed_post):
    raw_calls.start_session(DomainId=call_domain["DomainId"], SessionName="raw")
    body = (
        b'{"DomainId": "%s", "SessionNameOrId": "raw", "Audio": "***", "AudioFormat": "PCM_S16LE_8000"}'
        % call_domain["DomainId"].encode()
    )
    answer = signed_post("VoiceID.PutSessionAudio", body)
    assert answer.status_code == 400
    assert "base64" in answer.json()["Message"]
    with pytest.raises(ClientError) as refused:
        raw_calls.put_session_audio(
            DomainId=call_domain["DomainId"], SessionNameOrId="raw", Audio=b"\0\0", AudioFormat="MP3"
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "AudioFormat" in refused.value.response["Error"]["Message"]
    assert base64  # the raw body above is what boto3 would have base64-encoded


def test_session_names_are_unique_per_domain(calls, call_domain):
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="same")
    with pytest.raises(ClientError) as refused:
        calls.start_session(DomainId=call_domain["DomainId"], SessionName="same")
    assert _error(refused)["ConflictType"] == "ANOTHER_ACTIVE_STREAM"


def test_an_unknown_session_or_watchlist_is_not_found(calls, call_domain):
    with pytest.raises(ClientError) as missing:
        calls.evaluate_session(DomainId=call_domain["DomainId"], SessionNameOrId="nobody")
    assert _error(missing)["ResourceType"] == "SESSION"
    with pytest.raises(ClientError) as no_list:
        calls.start_session(
            DomainId=call_domain["DomainId"],
            SessionName="x",
            FraudDetectionConfiguration={"WatchlistId": "A" * 22},
        )
    assert _error(no_list)["ResourceType"] == "WATCHLIST"


def test_thresholds_and_minimum_speech_are_checked(raw_calls, call_domain):
    for configuration in ({"AcceptanceThreshold": 101}, {"MinimumSpeechInSeconds": 4}):
        with pytest.raises(ClientError) as refused:
            raw_calls.start_session(
                DomainId=call_domain["DomainId"], SessionName="t", AuthenticationConfiguration=configuration
            )
        error = refused.value.response["Error"]
        assert error["Code"] == "ValidationException"
        assert next(iter(configuration)) in error["Message"]


def test_the_active_session_quota_frees_up_when_a_session_ends(calls, call_domain, settings):
    settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "active_sessions_per_domain": 1}
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="first")
    with pytest.raises(ClientError) as refused:
        calls.start_session(DomainId=call_domain["DomainId"], SessionName="second")
    assert refused.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    calls.end_session(DomainId=call_domain["DomainId"], SessionNameOrId="first")
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="second")


def test_a_deleted_domain_takes_no_calls(calls, call_domain):
    calls.delete_domain(DomainId=call_domain["DomainId"])
    with pytest.raises(ClientError) as refused:
        calls.start_session(DomainId=call_domain["DomainId"], SessionName="late")
    assert _error(refused)["ConflictType"] == "DOMAIN_NOT_ACTIVE"


def test_naming_a_speaker_makes_it_pending(calls, call_domain):
    calls.start_session(DomainId=call_domain["DomainId"], SessionName="s", SpeakerId="new-caller")
    speaker = calls.describe_speaker(DomainId=call_domain["DomainId"], SpeakerId="new-caller")["Speaker"]
    assert speaker["Status"] == "PENDING"
    updated = calls.update_session(
        DomainId=call_domain["DomainId"],
        SessionNameOrId="s",
        SpeakerId="other-caller",
        AuthenticationConfiguration={"AcceptanceThreshold": 75},
    )["Session"]
    assert updated["SpeakerId"] == "other-caller"
    assert updated["AuthenticationConfiguration"] == {"AcceptanceThreshold": 75, "MinimumSpeechInSeconds": 10}
    assert (
        calls.describe_speaker(DomainId=call_domain["DomainId"], SpeakerId="other-caller")["Speaker"][
            "Status"
        ]
        == "PENDING"
    )
