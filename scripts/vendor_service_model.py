"""Copy botocore's `voice-id` 2021-09-27 model into the repository, documentation stripped.

botocore deletes the models of retired services; voiceid validates requests against its own copy and
ships it for clients (AWS_DATA_PATH), so both keep working after that happens. voiceid's own additions
(the session operations, and the few shape changes they need) live in `voiceid_site/awsjson/extensions/`
and are merged in here, so `service-2.json` is botocore's model plus exactly those files.
Run: python scripts/vendor_service_model.py   (a test checks the copy still matches botocore's + ours).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import botocore.loaders

SERVICE, API_VERSION = "voice-id", "2021-09-27"
AWSJSON = Path(__file__).resolve().parent.parent / "voiceid_site" / "awsjson"
TARGET = AWSJSON / "data" / SERVICE / API_VERSION
EXTENSIONS = AWSJSON / "extensions"
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


def with_extensions(service: dict[str, Any]) -> dict[str, Any]:
    """botocore's service-2 document plus voiceid's operations, shapes and shape overrides."""
    merged = json.loads(json.dumps(service))
    for path in sorted(EXTENSIONS.glob("*.json")):
        extension = json.loads(path.read_text())
        for kind in ("operations", "shapes"):
            clashes = set(extension.get(kind, {})) & set(merged[kind])
            if clashes:
                raise ValueError(f"{path.name} redefines {kind} {sorted(clashes)} of the voice-id model")
            merged[kind].update(extension.get(kind, {}))
        for shape, override in extension.get("shapeOverrides", {}).items():
            merged["shapes"][shape].update({k: v for k, v in override.items() if k != "why"})
    return merged


def vendored_documents() -> dict[str, Any]:
    """What our data folder must hold: botocore's documents, service-2 extended with ours."""
    documents = botocore_documents()
    documents["service-2"] = with_extensions(documents["service-2"])
    return documents


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, document in vendored_documents().items():
        (TARGET / f"{name}.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {', '.join(DOCUMENTS)} to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
