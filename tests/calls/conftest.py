"""Session tests: boto3 over HTTP with voiceid's model (which adds the session operations), real audio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fraudsters import screening
from tests.conftest import ApiCredentials, make_client
from voiceid_site import demo
from voiceid_site.awsjson.model import DATA_PATH
from voiceprints import audio


@pytest.fixture(autouse=True)
def _fresh_screening_cache() -> None:
    # Rolled-back test databases reuse watchlist primary keys.
    screening.forget()


@pytest.fixture
def calls(live_server: Any, api_credentials: ApiCredentials) -> Any:
    """A boto3 voice-id client that knows the session operations (AWS_DATA_PATH = voiceid's model)."""
    return make_client(live_server.url, api_credentials, data_path=str(DATA_PATH))


@pytest.fixture
def raw_calls(live_server: Any, api_credentials: ApiCredentials) -> Any:
    return make_client(live_server.url, api_credentials, data_path=str(DATA_PATH), validate_params=False)


@pytest.fixture
def call_domain(calls: Any) -> dict[str, Any]:
    return calls.create_domain(Name="calls", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/calls"})[
        "Domain"
    ]


def pcm(samples: np.ndarray) -> bytes:
    return audio.pcm16_bytes(samples)


def call_pcm(voice: demo.DemoVoice) -> bytes:
    """What the voice says on a later call: recordings its enrollment did not use (over 20 s)."""
    return pcm(voice.call_audio())


@pytest.fixture
def stream(calls: Any) -> Callable[..., dict[str, Any]]:
    """Send PCM to a session in chunks (default 2 s, to keep tests quick); returns the last answer."""

    def send(domain_id: str, session: str, pcm: bytes, *, chunk_seconds: float = 2.0) -> dict[str, Any]:
        step = int(chunk_seconds * audio.CANONICAL_RATE) * 2
        answer: dict[str, Any] = {}
        for offset in range(0, len(pcm), step):
            answer = calls.put_session_audio(
                DomainId=domain_id,
                SessionNameOrId=session,
                Audio=pcm[offset : offset + step],
                AudioFormat="PCM_S16LE_8000",
            )
        return answer

    return send
