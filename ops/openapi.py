"""python -m ops.openapi: writes the photos API's OpenAPI document (docs/api/openapi.json) from
the handler's routes and models (Powertools generates it); tests/test_photos_api.py fails when
the committed document differs from what the code generates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"


def generated() -> str:
    from handlers import photos_api

    return json.dumps(photos_api.openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(generated())
    print(f"wrote {DOCUMENT.relative_to(Path.cwd()) if DOCUMENT.is_relative_to(Path.cwd()) else DOCUMENT}")
    sys.exit(0)
