"""Where the speaker-encoder weights live, and the error that says how to get them.

The weights are not in the repository: ``scripts/fetch-model`` (run by ``make install``) takes
``resemblyzer/pretrained.pt`` out of the resemblyzer 0.1.4 wheel from PyPI and checks it against
:data:`PRETRAINED_SHA256`. ``VOICEID_MODEL_PATH`` points elsewhere, e.g. at a mounted volume in production.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_MODEL_PATH",
    "MODEL_PATH_ENV",
    "PRETRAINED_SHA256",
    "ModelNotFoundError",
    "model_path",
]

MODEL_PATH_ENV = "VOICEID_MODEL_PATH"

# Kept in step with scripts/fetch-model, which verifies the download against the same digest.
PRETRAINED_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = REPO_ROOT / "var" / "models" / "resemblyzer-0.1.4" / "pretrained.pt"


class ModelNotFoundError(FileNotFoundError):
    """The weights file is missing: the message tells the operator how to fetch it."""


def model_path() -> Path:
    """The weights file to load: ``$VOICEID_MODEL_PATH`` if set, else the one ``make install`` fetches."""
    configured = os.environ.get(MODEL_PATH_ENV)
    path = Path(configured) if configured else DEFAULT_MODEL_PATH
    if not path.is_file():
        source = f"{MODEL_PATH_ENV}={configured}" if configured else "the default location"
        raise ModelNotFoundError(
            f"speaker-encoder weights not found at {path} ({source}). "
            "Run `make install` (or `scripts/fetch-model`) to download them from the resemblyzer 0.1.4 "
            f"wheel on PyPI, or set {MODEL_PATH_ENV} to a copy of resemblyzer's pretrained.pt."
        )
    return path
