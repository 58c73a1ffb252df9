from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from handlers.core import images
from handlers.core.errors import InvalidImage
from tests import images as pictures

LIMIT = 64_000_000


def write(tmp_path: Path, data: bytes, name: str = "source") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty-file"),
        (b"just some text, named .jpg", "not-an-image"),
        (pictures.png_bytes(), "not-a-jpeg"),
        (pictures.truncated_jpeg(), "corrupt-image"),
        (pictures.bomb_png(), "too-many-pixels"),
        (pictures.bomb_jpeg_header(), "too-many-pixels"),
    ],
)
def test_bad_files_are_rejected_with_a_named_reason(tmp_path, data, reason):
    found = images.inspect(write(tmp_path, data), "jpg", LIMIT)
    assert not found.accepted
    assert found.reason == reason


@pytest.mark.parametrize("data", [pictures.jpeg_bytes(), pictures.cmyk_jpeg(), pictures.greyscale_jpeg()])
def test_jpegs_are_accepted_whatever_their_colour_mode(tmp_path, data):
    found = images.inspect(write(tmp_path, data), "JPG", LIMIT)
    assert found.accepted and found.format == "JPEG" and found.reason is None


def test_the_pixel_limit_is_read_from_the_header(tmp_path):
    found = images.inspect(write(tmp_path, pictures.jpeg_bytes()), "jpg", max_pixels=100 * 100)
    assert (found.accepted, found.reason) == (False, "too-many-pixels")


def test_conversion_refuses_a_corrupt_jpeg_and_writes_nothing(tmp_path):
    out = tmp_path / "out.png"
    with pytest.raises(InvalidImage, match="corrupt-image"):
        images.to_png(write(tmp_path, pictures.truncated_jpeg()), out, LIMIT, "fast")
    assert not out.exists() or out.stat().st_size == 0


@pytest.mark.parametrize("data", [pictures.jpeg_bytes(), pictures.cmyk_jpeg(), pictures.greyscale_jpeg()])
def test_png_is_full_size_and_decodes(tmp_path, data):
    out = tmp_path / "out.png"
    size = images.to_png(write(tmp_path, data), out, LIMIT, "fast")
    with Image.open(out) as png:
        png.load()
        assert png.format == "PNG" and png.mode in ("RGB", "L")
        assert png.size == (size["width"], size["height"]) == (451, 300)


@pytest.mark.parametrize("compression", ["fast", "small"])
def test_png_pixels_match_the_decoded_jpeg(tmp_path, compression):
    source = write(tmp_path, pictures.jpeg_bytes())
    out = tmp_path / "out.png"
    images.to_png(source, out, LIMIT, compression)
    with Image.open(source) as jpeg, Image.open(out) as png:
        assert jpeg.convert("RGB").tobytes() == png.tobytes()


def test_full_size_png_of_an_exif_rotated_photo_is_upright(tmp_path):
    out = tmp_path / "out.png"
    size = images.to_png(write(tmp_path, pictures.rotated_jpeg()), out, LIMIT, "fast")
    with Image.open(out) as png:
        assert png.size == (size["width"], size["height"]) == (451, 300)  # stored 300x451, sideways


def _difference(first: Image.Image, second: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3


def test_thumbnail_of_an_exif_rotated_photo_is_upright(tmp_path):
    out = tmp_path / "thumb.jpg"
    size = images.thumbnail(write(tmp_path, pictures.rotated_jpeg()), out, LIMIT, 128)
    with Image.open(out) as thumb:
        assert max(thumb.size) == 128 and thumb.mode == "RGB"
        assert (size["width"], size["height"]) == thumb.size
        upright = pictures.photo().resize(thumb.size)  # the landscape photo as the camera saw it
        sideways = pictures.photo().transpose(Image.Transpose.ROTATE_90).resize(thumb.size)
        assert _difference(thumb, upright) < 8 < _difference(thumb, sideways)


def test_thumbnail_of_cmyk_and_greyscale_is_srgb(tmp_path):
    for data in (pictures.cmyk_jpeg(), pictures.greyscale_jpeg()):
        out = tmp_path / "thumb.jpg"
        images.thumbnail(write(tmp_path, data), out, LIMIT, 128)
        with Image.open(out) as thumb:
            assert thumb.mode == "RGB" and max(thumb.size) == 128
            assert sum(ImageStat.Stat(thumb).mean) > 30  # not an inverted/black CMYK picture


def test_perceptual_hash_matches_reencoded_photo_but_not_another(tmp_path):
    original = images.perceptual_hash(write(tmp_path, pictures.jpeg_bytes(), "a"), LIMIT)
    smaller = pictures.photo().resize((300, 200))
    recompressed = images.perceptual_hash(write(tmp_path, pictures.jpeg_bytes(smaller, quality=40), "b"), LIMIT)
    other = images.perceptual_hash(write(tmp_path, pictures.jpeg_bytes(pictures.photo("coffee.jpg")), "c"), LIMIT)
    assert images.hamming_distance(original, recompressed) <= 4
    assert images.hamming_distance(original, other) > 10


def test_content_hash_is_sha256(tmp_path):
    import hashlib

    data = pictures.jpeg_bytes()
    assert images.content_hash(write(tmp_path, data)) == hashlib.sha256(data).hexdigest()
