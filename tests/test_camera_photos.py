"""Photos as phones and cameras write them, through the image functions (GetFileType's
inspect, the PNG, the thumbnail): multi-picture files, colour profiles, orientations, JPEG
codings, odd structures, metadata and privacy. Every PNG is also read by libpng."""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from handlers.core import colour, icc, images
from tests import images as pictures
from tests import jpeg_writer, libpng
from tests.photo_checks import SRGB, check_outputs, difference, mean
from tests.workflow_states import with_results, written_outputs

LIMIT = 64_000_000


class Converted:
    """One photo through the three image steps, as the workflow runs them."""

    def __init__(self, tmp_path: Path, data: bytes, keep_location: bool = False) -> None:
        self.source = tmp_path / "upload"
        self.source.write_bytes(data)
        self.found = images.inspect(self.source, "jpg", LIMIT, keep_location)
        assert self.found.accepted, self.found.reason
        self.metadata = self.found.metadata or {}
        self.png_path, self.thumb_path = tmp_path / "out.png", tmp_path / "thumb.jpg"
        self.png_size = images.to_png(self.source, self.png_path, LIMIT, "fast")
        self.thumb_size = images.thumbnail(self.source, self.thumb_path, LIMIT, 128)
        self.png, self.thumb = Image.open(self.png_path), Image.open(self.thumb_path)
        self.png.load()
        self.thumb.load()


def assert_outputs_are_sound(out: Converted, levels: float = 3) -> None:
    """photo_checks.check_outputs, and the recorded upright size is the PNG's."""
    check_outputs(out.png_path, out.thumb_path, levels)
    assert out.png.size == (out.png_size["width"], out.png_size["height"])
    assert (out.metadata["width"], out.metadata["height"]) == out.png.size


def with_profile(profile: bytes, image: Image.Image | None = None) -> bytes:
    return pictures.jpeg_bytes(image or pictures.photo("coffee.jpg"), icc_profile=profile)


# --- multi-picture JPEGs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "kinds", "primary"),
    [
        (pictures.ultra_hdr_jpeg, ["gain-map"], "coffee.jpg"),
        (pictures.stereo_jpeg, ["second-view"], "rocket.jpg"),
        (pictures.pillow_mpo, ["unknown"], "astronaut.jpg"),
    ],
    ids=["ultra-hdr-gain-map", "stereo-pair", "pillow-save-all"],
)
def test_multi_picture_jpegs_are_accepted_and_made_from_the_primary_image(tmp_path, build, kinds, primary):
    data = build()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format in ("MPO", "JPEG")  # Pillow calls most of them MPO; Ultra HDR stays JPEG
        first_frame = opened.convert("RGB")
    out = Converted(tmp_path, data)
    assert out.found.format == "JPEG"
    assert out.metadata["imageCount"] == 2 and out.metadata["secondaryImages"] == kinds
    # The primary picture, decoded as is: not the gain map, not the other view.
    assert out.png.size == first_frame.size == pictures.photo(primary).size
    assert out.png.tobytes() == first_frame.tobytes() and difference(out.png, pictures.photo(primary)) < 6
    assert_outputs_are_sound(out)


def test_a_broken_mpf_index_costs_nothing(tmp_path, caplog):
    data = bytearray(pictures.ultra_hdr_jpeg())
    entries = data.index(b"\xb0\x02")
    data[entries + 8 : entries + 12] = (0xFFFFFF).to_bytes(4, "big")  # index points outside the file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Python warning would be a bare stderr line in Lambda's log
        out = Converted(tmp_path, bytes(data))
    assert "secondaryImages" not in out.metadata and out.metadata["imageCount"] == 1
    assert_outputs_are_sound(out)
    logged = [r for r in caplog.records if r.getMessage() == "the decoder worked around damage in the file"]
    assert logged and any("malformed MPO" in text for text in logged[0].decoderWarnings)


# --- colour ----------------------------------------------------------------------------


def test_a_cmyk_jpeg_is_converted_through_its_profile_in_both_outputs(tmp_path):
    out = Converted(tmp_path, pictures.cmyk_jpeg_with_profile())
    cmyk = pictures.cmyk_photo()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(pictures.cmyk_profile()))
    reference = ImageCms.profileToProfile(cmyk, profile, SRGB, outputMode="RGB")
    # Pillow's decoder already undoes the Adobe (APP14) inversion: the PNG is the reference
    # conversion of the CMYK pixels before JPEG, within JPEG's loss, and far from naive.
    assert out.png.mode == "RGB" and out.png.info["icc_profile"] == colour.SRGB_ICC
    assert difference(out.png, reference) < 3 < 15 < difference(out.png, cmyk.convert("RGB"))
    assert out.metadata["colourSpace"] == "CMYK" and out.metadata["colourProfile"] == "Test CMYK (impure inks)"
    assert_outputs_are_sound(out)


def test_a_ycck_jpeg_decodes_to_its_cmyk_and_is_converted_like_cmyk(tmp_path):
    cmyk = pictures.cmyk_photo().crop((0, 0, 64, 48))
    data = pictures.ycck_jpeg(cmyk, pictures.cmyk_profile())
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.info["adobe_transform"] == 2 and decoded.mode == "CMYK"
        assert difference(decoded, cmyk) < 2
    out = Converted(tmp_path, data)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(pictures.cmyk_profile()))
    assert difference(out.png, ImageCms.profileToProfile(cmyk, profile, SRGB, outputMode="RGB")) < 3
    assert_outputs_are_sound(out)


def test_a_cmyk_jpeg_without_a_profile_is_converted_the_same_way_in_both_outputs(tmp_path):
    out = Converted(tmp_path, pictures.cmyk_jpeg())
    assert "icc_profile" not in out.png.info and "colourProfileProblem" in out.metadata
    assert_outputs_are_sound(out)


@pytest.mark.parametrize(
    "profile",
    [pictures.display_p3_profile, pictures.adobe_rgb_profile, pictures.lcms_srgb_v4_profile],
    ids=["display-p3-v4", "adobe-rgb-v2", "srgb-v4"],
)
def test_an_rgb_profile_is_kept_byte_for_byte_and_the_thumbnail_is_srgb(tmp_path, profile):
    embedded = profile()
    out = Converted(tmp_path, with_profile(embedded))
    assert out.png.info["icc_profile"] == embedded
    with Image.open(io.BytesIO(with_profile(embedded))) as original:
        assert out.png.tobytes() == original.tobytes()  # pixels untouched: the profile describes them
    assert out.metadata["colourSpace"] == "RGB"
    assert_outputs_are_sound(out)


def test_a_wide_gamut_thumbnail_is_converted_not_relabelled(tmp_path):
    out = Converted(tmp_path, with_profile(pictures.display_p3_profile()))
    relabelled = out.png.resize(out.thumb.size, Image.Resampling.LANCZOS)
    assert max(abs(a - b) for a, b in zip(mean(out.thumb), mean(relabelled), strict=True)) > 2


def test_a_greyscale_jpeg_keeps_its_grey_profile(tmp_path):
    out = Converted(tmp_path, with_profile(pictures.grey_profile(), pictures.photo().convert("L")))
    assert out.png.mode == "L" and out.png.info["icc_profile"] == pictures.grey_profile()
    assert out.metadata["colourSpace"] == "GRAY"
    assert_outputs_are_sound(out)


def test_the_old_hp_srgb_profile_is_replaced_so_libpng_stays_silent(tmp_path):
    hp = pictures.hp_srgb_profile()
    assert libpng.read(pictures.SAMPLES / "not-a-jpeg.png")[1] == "iCCP: known incorrect sRGB profile"
    out = Converted(tmp_path, with_profile(hp))
    assert out.png.info["icc_profile"] == colour.SRGB_ICC
    assert "known incorrect sRGB profile" in out.metadata["colourProfileProblem"]
    assert_outputs_are_sound(out)


@pytest.mark.parametrize(
    ("profile", "problem"),
    [
        (lambda: pictures.display_p3_profile()[:300], "unreadable colour profile"),
        (lambda: b"\x00" * 700, "unreadable colour profile"),
        (pictures.cmyk_profile, "a CMYK colour profile on RGB pixels"),
        (pictures.grey_profile, "a GRAY colour profile on RGB pixels"),
    ],
    ids=["truncated", "garbage", "cmyk-on-rgb", "grey-on-rgb"],
)
def test_a_profile_that_cannot_be_used_is_ignored_and_the_photo_still_made(tmp_path, profile, problem):
    out = Converted(tmp_path, with_profile(profile()))
    assert "icc_profile" not in out.png.info
    assert out.metadata["colourProfileProblem"].startswith(problem)
    assert_outputs_are_sound(out)


@pytest.mark.parametrize(
    ("profile", "image"),
    [(pictures.display_p3_profile, pictures.photo), (pictures.grey_profile, lambda: pictures.photo().convert("L"))],
    ids=["rgb", "grey"],
)
def test_a_profile_libpng_would_reject_is_applied_instead(tmp_path, profile, image):
    bad = bytearray(profile())
    bad[68:80] = bytes.fromhex("0000f351 00010000 000116cc")  # D65 as the PCS illuminant: libpng warns
    out = Converted(tmp_path, with_profile(bytes(bad), image()))
    assert out.png.mode == "RGB" and out.png.info["icc_profile"] == colour.SRGB_ICC
    assert out.metadata["colourProfileProblem"] == "PCS illuminant is not D50: converted to sRGB"
    assert_outputs_are_sound(out)


def test_a_camera_in_adobe_rgb_mode_without_a_profile_is_read_as_adobe_rgb(tmp_path):
    exif = pictures.camera_exif(colour_space=0xFFFF, interop="R03")
    out = Converted(tmp_path, pictures.jpeg_bytes(pictures.photo("coffee.jpg"), exif=exif))
    assert out.png.info["icc_profile"] == colour.ADOBE_RGB_ICC
    assert out.metadata["colourSpace"] == "Adobe RGB (DCF)"
    assert_outputs_are_sound(out)


def test_the_compact_srgb_profile_is_srgb():
    compact = ImageCms.ImageCmsProfile(io.BytesIO(colour.SRGB_ICC))
    through = ImageCms.profileToProfile(pictures.photo(), compact, SRGB, outputMode="RGB")
    assert difference(through, pictures.photo()) < 0.1
    assert len(colour.SRGB_ICC) < 1024 and icc.png_problem(colour.SRGB_ICC, grey=False) is None


# --- orientation -----------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(tmp_path, orientation):
    upright = pictures.photo().resize((96, 64))
    out = Converted(tmp_path, pictures.oriented_jpeg(orientation, upright))
    assert out.png.size == (96, 64) and difference(out.png, upright) < 4
    assert out.thumb.size == (96, 64) and difference(out.thumb, upright) < 6
    assert out.metadata["orientation"] == orientation
    stored = (64, 96) if orientation >= 5 else (96, 64)
    assert (out.found.width, out.found.height) == stored
    assert_outputs_are_sound(out)


# --- JPEG codings and structures -------------------------------------------------------


def _jpegtran_or_skip() -> None:
    if shutil.which("jpegtran") is None:
        if os.environ.get("CI") == "true":
            raise AssertionError("jpegtran (Debian libjpeg-turbo-progs) is required in CI")
        pytest.skip("jpegtran is not installed (Debian: libjpeg-turbo-progs)")


@pytest.mark.parametrize(
    ("options", "variant"),
    [(["-arithmetic"], "arithmetic-sequential"), (["-arithmetic", "-progressive"], "arithmetic-progressive")],
)
def test_arithmetic_coded_jpegs_are_decoded(tmp_path, options, variant):
    _jpegtran_or_skip()
    # Larger than the 64 KiB Pillow hands libjpeg at a time: arithmetic decoding cannot suspend.
    baseline = pictures.jpeg_bytes(pictures.photo("coffee.jpg").resize((900, 600)))
    assert len(baseline) > 65536
    out = Converted(tmp_path, pictures.jpegtran(baseline, *options))
    assert out.metadata["jpegVariant"] == variant
    with Image.open(io.BytesIO(baseline)) as reference:
        assert out.png.tobytes() == reference.tobytes()  # lossless transcoding: identical pixels
        assert out.png.size == (900, 600)
    assert_outputs_are_sound(out)


def test_lossless_jpegs_decode_at_8_bits_and_are_rejected_by_name_at_12(tmp_path):
    grey = pictures.photo().convert("L").resize((64, 48))
    eight = Converted(
        tmp_path, jpeg_writer.encode_lossless([[[grey.getpixel((x, y)) for x in range(64)] for y in range(48)]])
    )
    assert eight.metadata["jpegVariant"] == "lossless" and eight.png.tobytes() == grey.tobytes()
    assert_outputs_are_sound(eight)
    path = tmp_path / "twelve.jpg"
    path.write_bytes(
        jpeg_writer.encode_lossless([[[grey.getpixel((x, y)) * 16 for x in range(64)] for y in range(48)]], 12)
    )
    assert images.inspect(path, "jpg", LIMIT).reason == "unsupported-jpeg"


def test_a_12_bit_jpeg_is_rejected_by_name(tmp_path):
    grey = pictures.photo().convert("L").resize((64, 48))
    # The same writer at 8 bits makes a JPEG Pillow decodes to the picture: the file is real.
    eight = jpeg_writer.encode([[[grey.getpixel((x, y)) for x in range(64)] for y in range(48)]])
    assert difference(Image.open(io.BytesIO(eight)), grey) < 2
    path = tmp_path / "twelve.jpg"
    path.write_bytes(pictures.twelve_bit_jpeg())
    found = images.inspect(path, "jpg", LIMIT)
    assert (found.accepted, found.reason, found.format) == (False, "unsupported-jpeg", "JPEG")
    assert (found.width, found.height) == (64, 48)


@pytest.mark.parametrize(
    ("data", "variant"),
    [
        (lambda: pictures.jpeg_bytes(progressive=True), "progressive"),
        (lambda: pictures.jpeg_bytes(restart_marker_rows=1), "baseline"),
        (lambda: pictures.jpeg_bytes() + b"\x00" * 500 + b"trailing bytes a phone app appended", "baseline"),
    ],
    ids=["progressive", "restart-markers", "bytes-after-eoi"],
)
def test_other_jpeg_structures_are_processed(tmp_path, data, variant):
    out = Converted(tmp_path, data())
    assert out.metadata["jpegVariant"] == variant
    assert difference(out.png, pictures.photo()) < 3
    assert_outputs_are_sound(out)


def test_a_huge_app_segment_and_an_exif_thumbnail_are_processed_and_not_published(tmp_path):
    thumbnail = pictures.jpeg_bytes(pictures.photo().resize((160, 106)), quality=95)
    exif = pictures.with_exif_thumbnail(pictures.camera_exif(), thumbnail)
    data = pictures.insert_segments(
        pictures.jpeg_bytes(exif=exif), pictures.segment(0xED, b"Photoshop 3.0\x00" + os.urandom(65000))
    )
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.getexif().get_ifd(0x8769)  # the EXIF block, thumbnail and all, is readable
    out = Converted(tmp_path, data)
    assert out.metadata["cameraModel"] == "Pixel 9 Pro"
    for path in (out.png_path, out.thumb_path):
        assert thumbnail[2:200] not in path.read_bytes()
    assert_outputs_are_sound(out)


# --- metadata and privacy --------------------------------------------------------------


def test_the_metadata_that_ties_the_user_to_the_photo(tmp_path):
    out = Converted(tmp_path, pictures.jpeg_bytes(pictures.photo(), exif=pictures.camera_exif(orientation=6)))
    assert out.metadata == {
        "width": 300,
        "height": 451,
        "orientation": 6,
        "capturedAt": "2024-05-01T14:03:22.120+02:00",
        "cameraMake": "Google",
        "cameraModel": "Pixel 9 Pro",
        "lens": "Pixel 9 Pro back camera 6.9mm f/1.68",
        "hasLocation": True,
        "jpegVariant": "baseline",
        "imageCount": 1,
    }
    assert out.png.size == (300, 451)


@pytest.mark.parametrize(
    ("taken", "offset", "subseconds", "expected"),
    [
        ("2023:12:31 23:59:59", None, None, "2023-12-31T23:59:59"),
        ("2023:12:31 23:59:59", "-05:00", "5", "2023-12-31T23:59:59.500-05:00"),
        ("0000:00:00 00:00:00", "+01:00", None, None),
        ("    :  :     :  :  ", None, None, None),
        ("2023:02:30 10:00:00", None, None, None),
    ],
)
def test_capture_time_is_iso_8601_when_the_camera_wrote_a_real_one(tmp_path, taken, offset, subseconds, expected):
    exif = pictures.camera_exif(taken=taken, offset=offset, subseconds=subseconds, gps=None)
    out = Converted(tmp_path, pictures.jpeg_bytes(exif=exif))
    assert out.metadata.get("capturedAt") == expected
    assert out.metadata["hasLocation"] is False


def test_coordinates_leave_getfiletype_only_when_locations_are_kept(tmp_path):
    data = pictures.jpeg_bytes(exif=pictures.camera_exif(gps=(-33.8568, 151.2153)))
    kept = Converted(tmp_path, data, keep_location=True).metadata
    assert kept["hasLocation"] is True
    assert (kept["latitude"], kept["longitude"]) == ("-33.8568000", "151.2153000")
    path = tmp_path / "again"
    path.write_bytes(data)
    found = images.inspect(path, "jpg", LIMIT)
    assert found.metadata["hasLocation"] is True and "latitude" not in found.metadata
    assert "latitude" not in str(images.FileType(**found.to_dict()).log_fields())


def test_a_location_in_xmp_only_counts_too(tmp_path):
    xmp = pictures.xmp_segment('<rdf:Description exif:GPSLatitude="48,51.486N"/>')
    out = Converted(tmp_path, pictures.insert_segments(pictures.jpeg_bytes(), xmp))
    assert out.metadata["hasLocation"] is True


def test_outputs_carry_no_gps_serial_numbers_or_exif(tmp_path):
    exif = pictures.camera_exif(orientation=3)
    out = Converted(tmp_path, pictures.jpeg_bytes(pictures.photo(), exif=exif, comment=b"owner: someone"))
    for image, path in ((out.png, out.png_path), (out.thumb, out.thumb_path)):
        raw = path.read_bytes()
        assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
        assert pictures.SERIAL_NUMBER.encode() not in raw and b"Pixel 9 Pro" not in raw and b"owner" not in raw
    assert_outputs_are_sound(out)


@pytest.mark.parametrize(
    "exif",
    [
        lambda: b"Exif\x00\x00" + b"\xff" * 40,
        lambda: pictures.camera_exif()[:60],
        lambda: b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + b"\x00" * 30,
    ],
    ids=["garbage", "truncated", "absurd-entry-count"],
)
def test_a_malformed_exif_block_never_fails_the_photo(tmp_path, exif):
    out = Converted(tmp_path, pictures.jpeg_bytes(exif=exif()))
    assert out.metadata["orientation"] == 1 and "capturedAt" not in out.metadata
    assert_outputs_are_sound(out)


def test_the_photos_item_carries_the_metadata_with_no_floats(tmp_path):
    from decimal import Decimal

    from handlers.core import photos
    from handlers.core.workflow import SourceObject

    data = pictures.jpeg_bytes(exif=pictures.camera_exif(orientation=6, gps=(-33.8568, 151.2153)))
    found = Converted(tmp_path, data, keep_location=True).found
    file_type = json.loads(json.dumps(found.to_dict()))  # as the state carries it
    uniqueness = {"contentHash": "h", "perceptualHash": "p"}
    outputs = written_outputs(bytes=1, width=1, height=1)
    state = with_results({"userId": "u"}, fileType=file_type, uniqueness=uniqueness, outputs=outputs)
    item = photos.new_item(SourceObject("uploads", "uploads/u/photo.jpg", len(data)), state)
    assert (item["width"], item["height"], item["storedWidth"], item["storedHeight"]) == (300, 451, 451, 300)
    assert item["capturedAt"] == "2024-05-01T14:03:22.120+02:00" and item["orientation"] == 6
    assert (item["latitude"], item["longitude"]) == (Decimal("-33.8568000"), Decimal("151.2153000"))
    assert not [name for name, value in item.items() if isinstance(value, float)]


# --- capture time and location beyond EXIF (MWG order: EXIF, then XMP, then IPTC) -------


@pytest.mark.parametrize(
    ("xmp", "expected"),
    [
        (pictures.xmp_packet('exif:DateTimeOriginal="2023-08-14T09:41:07.25+01:00"'), "2023-08-14T09:41:07.250+01:00"),
        (pictures.xmp_packet('exif:DateTimeOriginal="2023-08-14T09:41:07"'), "2023-08-14T09:41:07"),
        (
            pictures.xmp_packet(elements="<photoshop:DateCreated>2023-08-14T09:41Z</photoshop:DateCreated>"),
            "2023-08-14T09:41:00+00:00",
        ),
        (pictures.xmp_packet('photoshop:DateCreated="2023-08-14"'), None),  # a day is not a capture time
        (pictures.xmp_packet('xmp:CreateDate="2023-08-14T09:41:07"'), None),  # when it was digitised
        (pictures.xmp_packet('exif:DateTimeOriginal="yesterday"'), None),
        ('<!DOCTYPE x [<!ENTITY a "2023-08-14T09:41:07">]><x exif:DateTimeOriginal="&a;"/>', None),
        ("<not xml", None),
    ],
    ids=["lightroom", "no-offset", "photoshop-element", "date-only", "create-date", "garbage", "dtd", "broken"],
)
def test_a_capture_time_written_only_in_xmp_is_read(tmp_path, xmp, expected):
    """Lightroom and Photoshop exports may carry the capture time in XMP only."""
    data = pictures.insert_segments(pictures.jpeg_bytes(), pictures.xmp_segment(xmp))
    assert Converted(tmp_path, data).metadata.get("capturedAt") == expected


def test_a_capture_time_written_only_in_iptc_is_read(tmp_path):
    iptc = pictures.iptc_segment({55: "20190322", 60: "174509-0500", 80: "A. Photographer"})
    data = pictures.insert_segments(pictures.jpeg_bytes(), iptc)
    assert Converted(tmp_path, data).metadata["capturedAt"] == "2019-03-22T17:45:09-05:00"
    date_only = pictures.insert_segments(pictures.jpeg_bytes(), pictures.iptc_segment({55: "20190322"}))
    assert "capturedAt" not in Converted(tmp_path, date_only).metadata


def test_conflicting_capture_times_follow_exif_then_xmp_then_iptc(tmp_path):
    xmp = pictures.xmp_segment(pictures.xmp_packet('exif:DateTimeOriginal="2021-01-02T03:04:05"'))
    iptc = pictures.iptc_segment({55: "20190322", 60: "174509+0000"})
    exif = pictures.camera_exif(gps=None)  # 2024-05-01T14:03:22.120+02:00
    every = pictures.insert_segments(pictures.jpeg_bytes(exif=exif), xmp, iptc)
    assert Converted(tmp_path, every).metadata["capturedAt"] == "2024-05-01T14:03:22.120+02:00"
    without_exif = pictures.insert_segments(pictures.jpeg_bytes(), xmp, iptc)
    assert Converted(tmp_path, without_exif).metadata["capturedAt"] == "2021-01-02T03:04:05"


def test_xmp_coordinates_are_kept_where_exif_has_none_and_exif_wins_over_them(tmp_path):
    xmp = pictures.xmp_segment(pictures.xmp_packet('exif:GPSLatitude="33,51.408S" exif:GPSLongitude="151,12,55.08E"'))
    only_xmp = Converted(tmp_path, pictures.insert_segments(pictures.jpeg_bytes(), xmp), keep_location=True).metadata
    assert (only_xmp["latitude"], only_xmp["longitude"]) == ("-33.8568000", "151.2153000")
    exif = pictures.camera_exif(gps=(48.8581, 2.2945))
    both = Converted(tmp_path, pictures.insert_segments(pictures.jpeg_bytes(exif=exif), xmp), keep_location=True)
    assert (both.metadata["latitude"], both.metadata["longitude"]) == ("48.8581000", "2.2945000")
