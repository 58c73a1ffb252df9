"""Renditions without a cloud: the RENDITIONS setting (what is accepted, what is refused and
why, also by the package-time check), the thumbnail's function making the thumbnail and every
rendition from one decode (upright, sRGB, no metadata, never enlarged, in the PNG's colours),
and the ThumbHash encoder against an independent implementation. The same stage setting end to
end: tests/test_workflow_renditions.py."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from handlers.core import images, keys, renditions, thumbhash
from handlers.core.errors import ConfigurationError
from tests import images as pictures
from tests import serverless_yml
from tests.photo_checks import check_outputs, check_rendition, mean

PROJECT = Path(__file__).resolve().parent.parent
LIMIT = 64_000_000
DEFAULT = serverless_yml.setting_default("RENDITIONS")


# -- the setting ---------------------------------------------------------------------------------
def test_the_default_declares_two_webps_largest_first():
    found = renditions.parse(DEFAULT)
    assert [str(r) for r in found] == ["preview:webp:1600:80", "small:webp:640:75"]
    assert [(r.content_type, r.extension, r.prefix) for r in found] == [
        ("image/webp", ".webp", "renditions/preview/"),
        ("image/webp", ".webp", "renditions/small/"),
    ]
    assert renditions.parse("none") == renditions.parse(" NONE ") == ()
    assert [r.name for r in renditions.parse("b:jpeg:200:80, a:AVIF:900:50")] == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "RENDITIONS is empty"),
        ("preview:webp:1600", "must be name:format:size:quality"),
        ("preview:gif:1600:80", "the format must be one of webp, avif, jpeg"),
        ("preview:webp:16k:80", "the longest side must be a whole number 16-8192"),
        ("preview:webp:9000:80", "the longest side must be a whole number 16-8192"),
        ("preview:webp:1600:0", "the quality must be a whole number 1-100"),
        ("Preview:webp:1600:80", "the name must be"),
        ("thumbnail:webp:1600:80", "not original, png, thumbnail"),
        ("a:webp:100:80,a:jpeg:50:80", "names 'a' twice"),
    ],
)
def test_a_bad_list_is_refused_naming_the_entry(value, reason, monkeypatch):
    with pytest.raises(renditions.RenditionsError, match=reason):
        renditions.parse(value)
    from handlers.core import config

    monkeypatch.setenv("RENDITIONS", value or " ")
    with pytest.raises(ConfigurationError):
        config.renditions()


def test_the_package_time_check_prints_the_list_or_the_reason():
    """What plugins/renditions.js runs (with a plain Python, no venv) before packaging."""

    def check(value: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "handlers.core.renditions", value]
        return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)

    good = check("small:webp:640:75,preview:webp:1600:80")
    assert (good.returncode, good.stdout.strip()) == (0, "preview:webp:1600:80,small:webp:640:75")
    bad = check("preview:webp:1600:80,extra:bmp:10:10")
    assert bad.returncode == 2 and "'extra:bmp:10:10': the format must be one of" in bad.stderr


def test_keys_of_each_rendition_follow_the_upload_in_a_folder_of_its_own():
    found = keys.output_keys("uploads/u/a/b.JPG", "uploads/", "0123456789abcdef" * 4, "", renditions.parse(DEFAULT))
    assert found.renditions == {
        "preview": "renditions/preview/u/a/b-0123456789abcdef.webp",
        "small": "renditions/small/u/a/b-0123456789abcdef.webp",
    }
    assert found.all()[3:] == list(found.renditions.values())


# -- one decode, many encodes --------------------------------------------------------------------
def _made(tmp_path: Path, data: bytes, declared: str, thumb: int = 128) -> tuple[dict, list[images.Wanted]]:
    source = tmp_path / "photo.jpg"
    source.write_bytes(data)
    wanted = [images.Wanted.thumbnail(tmp_path / "thumb.jpg", thumb)]
    wanted += [images.Wanted.rendition(tmp_path / f"{r.name}{r.extension}", r) for r in renditions.parse(declared)]
    return images.web_pictures(source, LIMIT, wanted), wanted


def test_every_rendition_is_upright_srgb_bare_never_enlarged_and_in_the_pngs_colours(tmp_path, monkeypatch):
    """A Display P3 photo stored sideways (EXIF orientation 6), 1800 x 1200 upright: the PNG
    keeps P3, the thumbnail and the renditions are converted to sRGB, and all agree."""
    upright = pictures.photo("chelsea.jpg").resize((1800, 1200), Image.Resampling.BICUBIC)
    exif = pictures.camera_exif(orientation=6, gps=(48.8581, 2.2945))
    data = pictures.jpeg_bytes(
        pictures.stored_as(6, upright), exif=exif, icc_profile=pictures.display_p3_profile(), quality=92
    )
    decodes = []
    original_decode = images._decode
    monkeypatch.setattr(images, "_decode", lambda image: decodes.append(image.size) or original_decode(image))
    declared = "huge:webp:4000:80,big:webp:1000:80,mid:avif:500:60,small:jpeg:200:80"
    made, wanted = _made(tmp_path, data, declared)
    assert decodes == [(1200, 1800)]  # once, in full: `huge` asks for more than the photo has
    png_path = tmp_path / "photo.png"
    images.to_png(tmp_path / "photo.jpg", png_path, LIMIT, "fast")
    png, _ = check_outputs(png_path, tmp_path / "thumb.jpg")
    assert png.size == (1800, 1200)
    for rendition, size in zip(renditions.parse(declared), made["sizes"][1:], strict=True):
        picture = check_rendition(png, tmp_path / f"{rendition.name}{rendition.extension}", rendition)
        assert picture.size == (size["width"], size["height"])
    assert [max(s["width"], s["height"]) for s in made["sizes"]] == [128, 1800, 1000, 500, 200]
    assert all(w.path.stat().st_size < len(data) for w in wanted[2:])  # never larger than the source either
    decodes.clear()
    _made(tmp_path, data, "mid:avif:500:60,small:jpeg:200:80")
    assert decodes == [(600, 900)]  # at the smallest DCT scale serving 500 px: 1/2


def test_cmyk_and_greyscale_photos_make_rgb_renditions(tmp_path):
    for data in (pictures.cmyk_jpeg(), pictures.greyscale_jpeg()):
        _, wanted = _made(tmp_path, data, "a:webp:200:80,b:avif:100:60")
        for one in wanted:
            with Image.open(one.path) as picture:
                assert picture.mode == "RGB" and max(picture.size) == one.size


def test_the_placeholder_is_a_thumbhash_of_the_upright_picture(tmp_path):
    """Its header says landscape (the photo is stored sideways, 300 x 451) and carries the thumbnail's
    average colour (luma, yellow-blue and red-green, to the header's precision)."""
    made, wanted = _made(tmp_path, pictures.rotated_jpeg(), "a:webp:200:80")
    hashed = base64.b64decode(made["placeholder"])
    assert len(made["placeholder"]) <= 40 and hashed[4] >> 7 == 1  # bit 15 of header16: landscape
    header = hashed[0] | hashed[1] << 8 | hashed[2] << 16
    luma, yellow_blue, red_green = (header & 63) / 63, (header >> 6 & 63) / 31.5 - 1, (header >> 12 & 63) / 31.5 - 1
    with Image.open(wanted[0].path) as thumb:
        r, g, b = (v / 255 for v in mean(thumb.convert("RGB")))
    assert abs(luma - (r + g + b) / 3) < 0.03 and abs(yellow_blue - ((r + g) / 2 - b)) < 0.05
    assert abs(red_green - (r - g)) < 0.05


# -- ThumbHash -----------------------------------------------------------------------------------
def _pattern(w: int, h: int) -> bytes:
    return bytes(
        (((x * 7 + y * 13) ^ (x * y)) % 256, (x * 3 + y * 5) % 256, (x * x + y) * 11 % 256)[c]
        for y in range(h)
        for x in range(w)
        for c in range(3)
    )


@pytest.mark.parametrize(
    ("w", "h", "expected"),
    # Computed by thumbhash-python 1.0.1 (an independent port of the reference encoder) from the
    # same pixels with alpha 255.
    [(100, 75, "3wcGDYRIhneHeGeWYGhDaQqKdI+3"), (60, 100, "IAgGDAR4h2SHeAkUU3x6C4p4fw==")],
)
def test_thumbhash_matches_an_independent_implementation(w, h, expected):
    assert base64.b64encode(thumbhash.rgb_to_thumbhash(w, h, _pattern(w, h))).decode() == expected


def test_thumbhash_of_a_photo_matches_too_and_refuses_large_input():
    photo = pictures.photo("rocket.jpg").resize((100, 67), Image.Resampling.BOX)
    assert base64.b64encode(thumbhash.rgb_to_thumbhash(100, 67, photo.tobytes())).decode() == (
        "EOcFFYItd2ZwiZd1h4iIdnZwbgbn"
    )
    assert len(thumbhash.encode(pictures.photo("rocket.jpg"))) == 28  # shrunk to 64 x 43 first
    with pytest.raises(ValueError, match="does not fit"):
        thumbhash.rgb_to_thumbhash(101, 10, bytes(101 * 10 * 3))
