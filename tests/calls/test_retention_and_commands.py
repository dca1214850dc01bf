"""Call audio retention (24 h), the rebuild command, and `stream_call` against a live server."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from calls import services
from calls.models import Session, SessionAudio
from domains.models import Domain
from jobs import sweepers
from speakers.models import SpeakerVoiceprint
from tests.calls.conftest import call_pcm
from voiceid_site import demo


def test_call_audio_goes_after_24_hours_and_the_results_stay(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="old", SpeakerId="alice")
    stream(domain_id, "old", call_pcm(demo.CALLERS[0]))
    calls.evaluate_session(DomainId=domain_id, SessionNameOrId="old")
    calls.start_session(DomainId=domain_id, SessionName="recent")
    stream(domain_id, "recent", call_pcm(demo.CALLERS[1])[:16000])
    day_ago = timezone.now() - timedelta(hours=25)
    old = Session.objects.get(session_name="old")
    Session.objects.filter(pk=old.pk).update(created_at=day_ago, audio_ended_at=day_ago, updated_at=day_ago)
    SessionAudio.objects.filter(session=old).update(received_at=day_ago)

    run = sweepers.purge_audio()

    assert run.counts["session_chunks_deleted"] > 0
    assert run.counts["sessions_cleared"] == 1
    assert not SessionAudio.objects.filter(session=old).exists()
    assert SessionAudio.objects.filter(session__session_name="recent").exists()
    old.refresh_from_db()
    assert old.stream_state_sealed == b"" and old.audio_erased_at is not None
    final = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="old")
    assert final["StreamingStatus"] == "ENDED"
    assert final["AuthenticationResult"]["Decision"] == "SPEAKER_NOT_ENROLLED"


def test_rebuild_voiceprints_rebuilds_from_the_retained_audio(domain_model):
    demo.seed_voices(domain_model)
    before = {row.voiceprint_id: bytes(row.packed_sealed) for row in SpeakerVoiceprint.objects.all()}
    out = io.StringIO()
    call_command("rebuild_voiceprints", stdout=out)
    assert "4 voiceprints rebuilt" in out.getvalue()
    for row in SpeakerVoiceprint.objects.all():
        assert bytes(row.packed_sealed) != before[row.voiceprint_id]  # re-sealed with a fresh nonce
    out = io.StringIO()
    call_command("rebuild_voiceprints", "--stale-only", stdout=out)
    assert "0 voiceprints rebuilt" in out.getvalue()


def test_stream_call_prints_each_evaluation_as_it_changes(
    live_server, api_credentials, call_domain, monkeypatch
):
    domain = Domain.objects.get(domain_id=call_domain["DomainId"])
    demo.seed_voices(domain)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", api_credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", api_credentials.secret_access_key)
    out = io.StringIO()
    call_command(
        "stream_call",
        *[str(path) for path in demo.CALLERS[0].call_recordings()],
        "--domain", domain.domain_id, "--session", "cli", "--speaker", "alice",
        "--chunk-seconds", "1", "--endpoint-url", live_server.url,
        stdout=out,
    )  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("session cli (id#")
    assert any("authentication NOT_ENOUGH_SPEECH" in line for line in lines)
    assert "authentication ACCEPT" in lines[-1] and "session ended" in lines[-1]


def test_stream_call_enrolls_and_says_the_scores_after_compare_the_call_with_itself(
    live_server, api_credentials, call_domain, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", api_credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", api_credentials.secret_access_key)
    bob = demo.CALLERS[1]
    out = io.StringIO()
    call_command(
        "stream_call", *[str(path) for path in bob.enrollment_recordings()],
        "--domain", call_domain["DomainId"], "--session", "enrolls", "--speaker", "bob", "--enroll",
        "--chunk-seconds", "4", "--endpoint-url", live_server.url,
        stdout=out,
    )  # fmt: skip
    printed = out.getvalue()
    assert "enrollment: COMPLETED" in printed
    assert printed.rstrip().endswith("stream another recording of the speaker to see a real score)")


def test_stream_call_finds_the_server_where_boto3_would(
    live_server, api_credentials, call_domain, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", api_credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", api_credentials.secret_access_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_VOICE_ID", live_server.url)  # not the default port
    out = io.StringIO()
    wav = demo.CALLERS[0].call_recordings()[0]
    call_command(
        "stream_call", str(wav), "--domain", call_domain["DomainId"], "--session", "env", "--chunk-seconds", "2",
        stdout=out,
    )  # fmt: skip
    assert out.getvalue().startswith("session env (id#")


def test_the_demo_prints_commands_for_the_port_make_run_serves_on(db, settings, tmp_path):
    settings.VOICEID_LOCAL_S3_ROOT = tmp_path  # where it writes the batch demo's manifest
    out = io.StringIO()
    call_command("seed_demo", "--endpoint-url", "http://127.0.0.1:8123", stdout=out)
    printed = out.getvalue()
    assert printed.count("manage.py stream_call") == 3
    assert printed.count("--endpoint-url http://127.0.0.1:8123") == 4  # three calls and the batch job
    assert ":8000" not in printed


def test_stream_call_says_which_credentials_it_needs(monkeypatch, tmp_path):
    from django.core.management.base import CommandError

    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    wav = demo.CALLERS[0].call_recordings()[0]
    with pytest.raises(CommandError, match="AWS_ACCESS_KEY_ID"):
        call_command("stream_call", str(wav), "--domain", "A" * 22, "--session", "x")
    with pytest.raises(CommandError, match=r"not a WAV|RIFF"):
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"ID3 not audio")
        call_command("stream_call", str(bad), "--domain", "A" * 22, "--session", "x")


def test_put_audio_writes_nothing_when_the_audio_is_bad(domain_model):
    from voiceid_site.exceptions import ValidationError

    session = services.session_start(
        domain=domain_model, session_name="bad", settings_=services.SessionSettings()
    )
    with pytest.raises(ValidationError):
        services.session_put_audio(
            domain=domain_model, session_name_or_id="bad", data=b"RIFF\x00\x00", audio_format="WAV"
        )
    session.refresh_from_db()
    assert session.chunks_received == 0 and not SessionAudio.objects.exists()
