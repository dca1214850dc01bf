"""Our vendored voice-id model must be botocore's (while botocore still ships it) plus our extensions."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from scripts.vendor_service_model import DOCUMENTS, vendored_documents
from voiceid_site.awsjson import model


def test_our_copy_is_the_installed_botocore_model_plus_our_extensions():
    try:
        documents = vendored_documents()
    except botocore.exceptions.UnknownServiceError:
        pytest.skip("botocore no longer ships voice-id: our copy is now the only one (expected eventually)")
    for name in DOCUMENTS:
        ours = json.loads((model.MODEL_DIR / f"{name}.json").read_text())
        assert ours == documents[name], f"{name}.json differs: run `make vendor-model`"


def test_our_copy_carries_no_documentation_strings():
    assert '"documentation"' not in (model.MODEL_DIR / "service-2.json").read_text()
