"""Copy botocore's `voice-id` 2021-09-27 model into the repository, documentation stripped.

botocore deletes the models of retired services; voiceid validates requests against its own copy and
ships it for clients (AWS_DATA_PATH), so both keep working after that happens.
Run: python scripts/vendor_service_model.py   (a test checks the copy still matches botocore's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import botocore.loaders

SERVICE, API_VERSION = "voice-id", "2021-09-27"
TARGET = Path(__file__).resolve().parent.parent / "voiceid_site" / "awsjson" / "data" / SERVICE / API_VERSION
# botocore loads these three per service; the rule set is needed even with endpoint_url.
DOCUMENTS = ("service-2", "paginators-1", "endpoint-rule-set-1")


def strip_documentation(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: strip_documentation(value) for key, value in node.items() if key != "documentation"}
    if isinstance(node, list):
        return [strip_documentation(item) for item in node]
    return node


def botocore_documents() -> dict[str, Any]:
    loader = botocore.loaders.create_loader()
    return {
        name: strip_documentation(loader.load_service_model(SERVICE, name, api_version=API_VERSION))
        for name in DOCUMENTS
    }


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, document in botocore_documents().items():
        (TARGET / f"{name}.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {', '.join(DOCUMENTS)} to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
