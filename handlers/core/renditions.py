"""The renditions a stage declares (RENDITIONS): web-ready pictures made beside the article's
outputs (original copy, PNG, thumbnail), each named, in a format, fitting a longest side, at
a quality. The one place that knows what a rendition is: keys, the thumbnail function, the
record, DiscardOutputs, verify, the command line and the console all read the parsed list.

The setting is a comma-separated list of `name:format:longest side:quality`, e.g.
`preview:webp:1600:80,small:webp:640:75`; `none` declares no rendition. Packaging checks it
(`python -m handlers.core.renditions VALUE`, run by plugins/renditions.js), so a stage with a
bad list never deploys. Plain Python on purpose: the check runs outside the Lambda runtime."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PREFIX = "renditions/"  # renditions/<name>/<the upload's folders and tagged name>.<extension>
NONE = "none"
# Pillow's format name, the key's extension, the Content-Type of the object.
FORMATS = {
    "webp": ("WEBP", ".webp", "image/webp"),
    "avif": ("AVIF", ".avif", "image/avif"),
    "jpeg": ("JPEG", ".jpg", "image/jpeg"),
}
RESERVED = ("original", "png", "thumbnail")  # the article's outputs, named so in the workflow state
MIN_SIZE, MAX_SIZE = 16, 8192
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class RenditionsError(ValueError):
    """RENDITIONS cannot be read: the message says which entry and why."""


@dataclass(frozen=True)
class Rendition:
    name: str
    format: str  # a key of FORMATS
    size: int  # longest side in pixels; a smaller photo is never enlarged
    quality: int  # the encoder's quality, 1-100

    @property
    def pillow_format(self) -> str:
        return FORMATS[self.format][0]

    @property
    def extension(self) -> str:
        return FORMATS[self.format][1]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][2]

    @property
    def prefix(self) -> str:
        return f"{PREFIX}{self.name}/"

    def __str__(self) -> str:
        return f"{self.name}:{self.format}:{self.size}:{self.quality}"


def parse(text: str | None) -> tuple[Rendition, ...]:
    """The declared renditions, largest first (each is resized from the one before it).
    Raises RenditionsError naming the entry at fault."""
    text = (text or "").strip()
    if text.lower() == NONE:
        return ()
    if not text:
        raise RenditionsError(f"RENDITIONS is empty: list name:format:size:quality entries, or '{NONE}'")
    found: dict[str, Rendition] = {}
    for entry in (part.strip() for part in text.split(",")):
        rendition = _entry(entry)
        if rendition.name in found:
            raise RenditionsError(f"RENDITIONS names {rendition.name!r} twice")
        found[rendition.name] = rendition
    return tuple(sorted(found.values(), key=lambda r: (-r.size, r.name)))


def _entry(entry: str) -> Rendition:
    parts = entry.split(":")
    if len(parts) != 4:
        raise RenditionsError(f"RENDITIONS entry {entry!r} must be name:format:size:quality, e.g. preview:webp:1600:80")
    name, format_, size, quality = (part.strip() for part in parts)
    if not _NAME.match(name) or name in RESERVED:
        raise RenditionsError(
            f"RENDITIONS entry {entry!r}: the name must be 1-32 of a-z, 0-9 and '-', starting with a "
            f"letter, and not {', '.join(RESERVED)}"
        )
    if format_.lower() not in FORMATS:
        raise RenditionsError(f"RENDITIONS entry {entry!r}: the format must be one of {', '.join(FORMATS)}")
    return Rendition(
        name,
        format_.lower(),
        _number(entry, "longest side", size, MIN_SIZE, MAX_SIZE),
        _number(entry, "quality", quality, 1, 100),
    )


def _number(entry: str, what: str, raw: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise RenditionsError(f"RENDITIONS entry {entry!r}: the {what} must be a whole number {low}-{high}")
    return int(raw)


def declared(text: str | None) -> str:
    """The list as a stage setting spells it, normalised (largest first)."""
    found = parse(text)
    return ",".join(str(r) for r in found) if found else NONE


def written(outputs: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every object one run wrote, as (kind, description): the workflow state's
    `results.outputs` (original, png, thumbnail) with the renditions the thumbnail's function
    made beside it, each under its own name."""
    found: list[tuple[str, dict[str, Any]]] = []
    for kind, output in (outputs or {}).items():
        if not isinstance(output, dict) or "key" not in output:
            continue
        found.append((kind, output))
        found += [(name, made) for name, made in (output.get("renditions") or {}).items() if "key" in made]
    return found


def names(renditions: Iterable[Rendition]) -> list[str]:
    return [r.name for r in renditions]


def main(argv: list[str]) -> int:
    """Package-time check: exit 0 and print the normalised list, or exit 2 with the reason."""
    if len(argv) != 1:
        print("usage: python -m handlers.core.renditions RENDITIONS-VALUE", file=sys.stderr)
        return 2
    try:
        print(declared(argv[0]))
    except RenditionsError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
