"""A reproducible benchmark corpus made from the bundled sample photographs: a mosaic of
the four photos, upscaled, with seeded Gaussian noise standing in for sensor grain (an
upscaled picture alone compresses unrealistically well)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg")
SIZES = {"12MP": (4000, 3000), "24MP": (6000, 4000)}


def _photo(size: tuple[int, int], seed: int = 12) -> Image.Image:
    width, height = size
    canvas = Image.new("RGB", size)
    for index, name in enumerate(PHOTOS):
        with Image.open(SAMPLES / name) as tile:
            part = tile.convert("RGB").resize((width // 2, height // 2), Image.Resampling.BICUBIC)
        canvas.paste(part, ((index % 2) * width // 2, (index // 2) * height // 2))
    noise = np.random.default_rng(seed).normal(0, 3, (height, width, 3)).round().astype(np.int16)
    return Image.fromarray((np.asarray(canvas).astype(np.int16) + noise).clip(0, 255).astype(np.uint8))


def build(folder: Path) -> dict[str, Path]:
    """Writes the corpus (once) and returns case name -> file."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Path] = {}
    for label, size in SIZES.items():
        base = folder / f"{label}-baseline.jpg"
        cases[base.stem] = base
        if not base.exists():
            picture = _photo(size)
            picture.save(base, quality=92)
            picture.save(folder / f"{label}-progressive.jpg", quality=92, progressive=True)
            if label == "12MP":
                picture.convert("CMYK").save(folder / "12MP-cmyk.jpg", quality=92)
                picture.convert("L").save(folder / "12MP-greyscale.jpg", quality=92)
                exif = Image.Exif()
                exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
                picture.transpose(Image.Transpose.ROTATE_90).save(
                    folder / "12MP-exif-rotated.jpg", quality=92, exif=exif.tobytes()
                )
        cases[f"{label}-progressive"] = folder / f"{label}-progressive.jpg"
    for extra in ("12MP-cmyk", "12MP-greyscale", "12MP-exif-rotated"):
        cases[extra] = folder / f"{extra}.jpg"
    return cases
