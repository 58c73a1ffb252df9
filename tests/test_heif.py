"""HEIF (HEIC) photos through the image functions (GetFileType's inspect, the PNG, the
thumbnail, the perceptual hash), with files encoded here: the same rules as camera JPEGs
(upright once, one colour plan for both outputs, metadata, privacy, pixel limit) and clean
named rejections for what cannot or may not be processed. Every PNG is read by libpng."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from handlers.core import colour, config, heif, images, photos
from handlers.core.errors import ConfigurationError, InvalidImage
from handlers.core.workflow import SourceObject
from tests import images as pictures
from tests.photo_checks import SRGB, check_outputs, difference, mean
from tests.workflow_states import with_results, written_outputs

LIMIT = 64_000_000
BOTH = frozenset({"jpeg", "heif"})
UPRIGHT = pictures.photo().resize((96, 64))


class Converted:
    """One HEIF through the three image steps, as the workflow runs them on a stage that
    accepts HEIF."""

    def __init__(self, tmp_path: Path, data: bytes, keep_location: bool = False) -> None:
        self.source = tmp_path / "upload"
        self.source.write_bytes(data)
        self.found = images.inspect(self.source, "heic", LIMIT, keep_location, BOTH)
        assert self.found.accepted, self.found.reason
        self.metadata = self.found.metadata or {}
        self.png_path, self.thumb_path = tmp_path / "out.png", tmp_path / "thumb.jpg"
        self.png_size = images.to_png(self.source, self.png_path, LIMIT, "fast")
        self.thumb_size = images.thumbnail(self.source, self.thumb_path, LIMIT, 64)
        self.png, self.thumb = check_outputs(self.png_path, self.thumb_path)
        assert self.png.size == (self.png_size["width"], self.png_size["height"])
        assert (self.metadata["width"], self.metadata["height"]) == self.png.size


def inspected(tmp_path: Path, data: bytes, accepted: frozenset[str] = BOTH, limit: int = LIMIT) -> images.FileType:
    path = tmp_path / "upload"
    path.write_bytes(data)
    return images.inspect(path, "heic", limit, False, accepted)


def decoded(data: bytes) -> Image.Image:
    """What libheif itself makes of the file (pillow-heif's API, not the plugin)."""
    import pillow_heif

    return pillow_heif.open_heif(io.BytesIO(data)).to_pillow()


# --- which files are HEIF, and which the stage accepts -------------------------------------


def test_the_default_stage_rejects_heif_by_name_without_parsing_it(tmp_path, monkeypatch):
    def never(path):
        raise AssertionError("a HEIF file was parsed on a stage that does not accept HEIF")

    monkeypatch.setattr(heif, "scan", never)
    found = inspected(tmp_path, pictures.heic(), accepted=images.DEFAULT_FORMATS)
    assert (found.accepted, found.format, found.reason) == (False, "HEIF", "heif-not-accepted")
    assert inspected(tmp_path, pictures.jpeg_bytes(), accepted=images.DEFAULT_FORMATS).accepted


def test_the_content_decides_never_the_name(tmp_path):
    heic, jpeg = tmp_path / "photo.jpg", tmp_path / "photo.heic"
    heic.write_bytes(pictures.heic())
    jpeg.write_bytes(pictures.jpeg_bytes())
    assert images.inspect(heic, "jpg", LIMIT, accepted=BOTH).format == "HEIF"
    assert images.inspect(jpeg, "heic", LIMIT, accepted=BOTH).format == "JPEG"
    assert images.inspect(jpeg, "heic", LIMIT, accepted=frozenset({"heif"})).reason == "jpeg-not-accepted"


@pytest.mark.parametrize(
    ("major", "compatible", "family"),
    [
        (b"heic", [b"mif1", b"heic", b"miaf"], "heif"),  # as iPhones write
        (b"mif1", [b"mif1", b"heic", b"miaf"], "heif"),  # generic HEIF holding HEVC
        (b"heix", [b"mif1", b"heix", b"miaf"], "heif"),  # 10-bit or 4:2:2 (cameras' .hif)
        (b"msf1", [b"msf1", b"hevc", b"iso8"], "heif"),  # image sequence
        (b"mif1", [b"mif1", b"avif", b"miaf"], "avif"),  # generic HEIF naming only AV1
        (b"avif", [b"mif1", b"avif", b"miaf"], "avif"),
        (b"isom", [b"isom", b"mp42", b"iso2"], None),  # an MP4 video is another ISO media file
    ],
)
def test_brands_decide_the_family(tmp_path, major, compatible, family):
    path = tmp_path / "file"
    path.write_bytes(pictures.with_brands(pictures.heic(), major, compatible))
    assert heif.brands(path).family == family


def test_an_mp4_is_not_an_image(tmp_path):
    data = pictures.with_brands(pictures.heic(), b"isom", [b"isom", b"mp42", b"iso2"])
    assert inspected(tmp_path, data).reason == "not-an-image"


@pytest.mark.parametrize(
    ("build", "by_default"),
    [
        (pictures.avif, ("AVIF", "avif-not-accepted")),
        # Brands that do not say AV1: the default stage never parses it, a HEIF stage finds
        # the primary image's coding.
        (
            lambda: pictures.with_brands(pictures.avif(), b"mif1", [b"mif1", b"miaf", b"MA1B"]),
            ("HEIF", "heif-not-accepted"),
        ),
    ],
    ids=["avif-brand", "mif1-brand-av1-coded"],
)
def test_an_avif_is_rejected_by_name_whatever_the_setting(tmp_path, build, by_default):
    data = build()
    found = inspected(tmp_path, data, images.DEFAULT_FORMATS)
    assert (found.accepted, found.format, found.reason) == (False, *by_default)
    found = inspected(tmp_path, data, BOTH)
    assert (found.accepted, found.format, found.reason) == (False, "AVIF", "avif-not-accepted")
    with pytest.raises(InvalidImage, match="avif-not-accepted"):
        images.to_png(tmp_path / "upload", tmp_path / "out.png", LIMIT, "fast")


def test_pillow_could_decode_avif_and_libheif_here_cannot():
    """Not accepting AVIF is a decision (see docs/heif.md), not a limit of Pillow; under generic
    brands libheif would take an AVIF and fail only when decoding, so the coding is checked."""
    with Image.open(io.BytesIO(pictures.avif()), formats=["AVIF"]) as opened:
        opened.load()
    with pytest.raises(RuntimeError, match="compression format"):
        decoded(pictures.with_brands(pictures.avif(), b"mif1", [b"mif1", b"miaf", b"MA1B"]))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("jpeg", {"jpeg"}), ("jpeg,heif", {"jpeg", "heif"}), (" HEIF , jpeg ", {"jpeg", "heif"}), ("heif", {"heif"})],
)
def test_accepted_formats_setting(monkeypatch, value, expected):
    monkeypatch.setenv("ACCEPTED_FORMATS", value)
    assert config.accepted_formats() == expected


@pytest.mark.parametrize("value", ["jpeg,avif", "png", ",", "jpeg;heif"])
def test_accepted_formats_setting_names_what_is_wrong(monkeypatch, value):
    monkeypatch.setenv("ACCEPTED_FORMATS", value)
    with pytest.raises(ConfigurationError, match="ACCEPTED_FORMATS must list one or more of jpeg, heif"):
        config.accepted_formats()


def test_the_decoder_is_registered_without_its_encoder(tmp_path):
    Converted(tmp_path, pictures.heic())
    assert "HEIF" in Image.OPEN and "HEIF" not in Image.SAVE and "HEIF" not in Image.SAVE_ALL


# --- orientation: upright once, never twice ------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("written", ["transform", "transform-and-exif"])
def test_a_rotation_or_mirroring_is_applied_once(tmp_path, orientation, written):
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"exif": exif.tobytes()} if written == "transform-and-exif" else {}
    stored = pictures.stored_as(orientation, UPRIGHT)
    out = Converted(tmp_path, pictures.heic(stored, orientation=orientation, **options))
    assert out.png.size == UPRIGHT.size and difference(out.png, UPRIGHT) < 4
    assert out.thumb.size == (64, 43) and difference(out.thumb, UPRIGHT.resize((64, 43))) < 6
    assert out.metadata["orientation"] == orientation
    assert (out.found.width, out.found.height) == stored.size  # as stored: storedWidth/storedHeight


def test_an_exif_orientation_without_a_transform_is_not_applied(tmp_path):
    """HEIF's transforms are normative, an EXIF orientation only informative: libheif ignores
    it, and so does the workflow (the picture is shown as every HEIF reader shows it)."""
    stored = pictures.stored_as(6, UPRIGHT)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = Converted(tmp_path, pictures.heic(stored, orientation=1, exif=exif.tobytes()))
    assert out.png.size == stored.size and difference(out.png, stored) < 4
    assert out.metadata["orientation"] == 1


# --- colour ----------------------------------------------------------------------------------


def test_an_embedded_display_p3_profile_is_kept_and_the_thumbnail_converted(tmp_path):
    profile = pictures.display_p3_profile()
    out = Converted(tmp_path, pictures.heic(pictures.photo("coffee.jpg").resize((96, 64)), icc_profile=profile))
    assert out.png.info["icc_profile"] == profile
    assert out.metadata["colourProfile"] == "Display P3" and out.metadata["colourSpace"] == "RGB"
    relabelled = out.png.resize(out.thumb.size, Image.Resampling.LANCZOS)
    assert max(abs(a - b) for a, b in zip(mean(out.thumb), mean(relabelled), strict=True)) > 2


def _nclx(primaries: int, transfer: int) -> dict[str, int]:
    return {"color_primaries": primaries, "transfer_characteristics": transfer, "matrix_coefficients": 6}


def test_an_nclx_display_p3_picture_gets_the_display_p3_profile(tmp_path):
    data = pictures.heic(pictures.photo("coffee.jpg").resize((96, 64)), **_nclx(12, 13))
    out = Converted(tmp_path, data)
    assert out.png.info["icc_profile"] == colour.DISPLAY_P3_ICC
    assert out.png.tobytes() == decoded(data).tobytes()  # the profile describes the pixels as they are
    assert out.metadata["colourSpace"] == "Display P3" and "colourProfile" not in out.metadata
    # The profile written here reads the pixels as the v4 profile phones embed does, and
    # reads (200, 100, 50) as Apple's Display P3 profile (from an iPhone 13 Pro photo) does.
    phone = ImageCms.ImageCmsProfile(io.BytesIO(pictures.display_p3_profile()))
    ours = ImageCms.ImageCmsProfile(io.BytesIO(colour.DISPLAY_P3_ICC))
    as_phone = ImageCms.profileToProfile(out.png, phone, SRGB, outputMode="RGB")
    assert difference(ImageCms.profileToProfile(out.png, ours, SRGB, outputMode="RGB"), as_phone) < 0.5
    swatch = ImageCms.profileToProfile(Image.new("RGB", (1, 1), (200, 100, 50)), ours, SRGB, outputMode="RGB")
    assert swatch.getpixel((0, 0)) == (215, 93, 31)


@pytest.mark.parametrize(
    ("nclx", "profile", "space"),
    [
        ((1, 13), colour.SRGB_ICC, "sRGB"),
        ((9, 1), None, "BT.2020 primaries, BT.709 transfer"),
    ],
    ids=["srgb", "bt2020-sdr"],
)
def test_other_nclx_descriptions_get_their_profile(tmp_path, nclx, profile, space):
    out = Converted(tmp_path, pictures.heic(**_nclx(*nclx)))
    assert out.metadata["colourSpace"] == space
    embedded = out.png.info["icc_profile"]
    assert embedded == (profile or colour.nclx_profile(*nclx)[0])
    assert profile or b"BT.2020 primaries, BT.709 transfer (HEIF nclx)" in embedded


def test_an_hdr_nclx_description_is_read_as_srgb_and_said_so(tmp_path):
    out = Converted(tmp_path, pictures.heic(**_nclx(9, 16)))  # BT.2020 with the PQ transfer
    assert "icc_profile" not in out.png.info
    assert out.metadata["colourProfileProblem"].startswith("nclx primaries 9, transfer 16")


def test_no_colour_description_at_all_is_srgb_untagged(tmp_path):
    out = Converted(tmp_path, pictures.heic(save_nclx_profile=False))
    assert "icc_profile" not in out.png.info and "colourSpace" not in out.metadata


# --- 10-bit pictures -------------------------------------------------------------------------


def test_a_10_bit_picture_is_recorded_as_such_and_output_at_8_bits(tmp_path):
    profile = pictures.display_p3_profile()
    out = Converted(tmp_path, pictures.heic(UPRIGHT, bits=10, icc_profile=profile))
    assert out.metadata["bitDepth"] == 10 and out.metadata["heifBrand"] == "heix"
    assert out.png.mode == "RGB" and out.png.info["icc_profile"] == profile
    assert difference(out.png, UPRIGHT) < 4  # the 8-bit picture the 10 bits round to


# --- auxiliary images, other pictures, sequences ---------------------------------------------


@pytest.mark.parametrize(
    ("urn", "kind"),
    [
        ("urn:mpeg:hevc:2015:auxid:2", "depth"),
        ("urn:com:apple:photo:2020:aux:hdrgainmap", "gain-map"),
        ("urn:com:apple:photo:2018:aux:portraiteffectsmatte", "matte"),
        ("urn:example:something-else", "unknown"),
    ],
)
def test_auxiliary_images_are_recorded_and_never_used(tmp_path, urn, kind):
    data = pictures.with_auxiliary(pictures.two_pictures(UPRIGHT, Image.new("RGB", (48, 32), "white")), urn)
    out = Converted(tmp_path, data)
    assert out.metadata["imageCount"] == 2 and out.metadata["secondaryImages"] == [kind]
    assert out.png.size == UPRIGHT.size and difference(out.png, UPRIGHT) < 4


def test_a_second_picture_is_recorded_and_the_primary_one_made(tmp_path):
    out = Converted(tmp_path, pictures.two_pictures(UPRIGHT, pictures.photo("rocket.jpg").resize((96, 64))))
    assert out.metadata["secondaryImages"] == ["image"] and difference(out.png, UPRIGHT) < 4


def test_a_sequence_with_a_still_image_is_made_from_the_still(tmp_path):
    out = Converted(tmp_path, pictures.as_sequence(pictures.heic(UPRIGHT)))
    assert out.metadata["heifBrand"] == "msf1" and out.metadata["secondaryImages"] == ["sequence"]
    assert difference(out.png, UPRIGHT) < 4


def test_a_tiled_picture_is_made_whole(tmp_path):
    upright = pictures.photo().resize((256, 192))
    data = pictures.heic(upright, tile=64)
    assert b"grid" in data and data.count(b"hvc1") == 12  # 4 x 3 tiles of 64 pixels, as iPhones tile by 512
    out = Converted(tmp_path, data)
    assert out.png.size == (256, 192) and difference(out.png, upright) < 4


# --- bad input: named rejections, nothing decoded from a damaged file ------------------------


def _tiled() -> bytes:
    return pictures.heic(pictures.photo().resize((256, 192)), tile=64)


def test_libheif_alone_decodes_a_truncated_tiled_picture_without_an_error():
    """Why the boxes are checked: missing tiles come back filled, no error is raised."""
    data = _tiled()
    cut = decoded(data[: len(data) * 6 // 10])
    assert cut.size == (256, 192) and difference(cut, decoded(data)) > 10


def _mdat_to_end_of_file(data: bytes) -> bytes:
    [(_, at, _)] = [b for b in pictures.boxes(data) if b[0] == b"mdat"]
    return data[:at] + struct.pack(">I", 0) + data[at + 4 :]


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (lambda d: d[: len(d) // 2], "truncated: the 'mdat' box"),
        (lambda d: d[: len(d) - 1], "truncated: the 'mdat' box"),
        (lambda d: d[:200], "truncated: the 'meta' box"),
        (lambda d: _mdat_to_end_of_file(d)[: len(d) * 6 // 10], "data lies outside the file"),
        (lambda d: d[:40] + bytes(len(d) - 40), "box does not fit in its parent"),
    ],
    ids=["half", "last-byte", "inside-meta", "open-ended-mdat", "zeroed-after-ftyp"],
)
def test_a_damaged_file_is_rejected_as_corrupt(tmp_path, damage, detail):
    data = damage(_tiled())
    found = inspected(tmp_path, data)
    assert (found.accepted, found.format, found.reason) == (False, "HEIF", "corrupt-image")
    path = tmp_path / "upload"
    assert detail in heif.scan(path).damage
    for make in (
        lambda: images.to_png(path, tmp_path / "out.png", LIMIT, "fast"),
        lambda: images.thumbnail(path, tmp_path / "t.jpg", LIMIT, 64),
        lambda: images.perceptual_hash(path, LIMIT),
    ):
        with pytest.raises(InvalidImage, match="corrupt-image"):
            make()


def test_padding_after_the_last_box_is_left_alone(tmp_path):
    out = Converted(tmp_path, pictures.heic(UPRIGHT) + bytes(300))
    assert difference(out.png, UPRIGHT) < 4


@pytest.mark.parametrize(
    ("build", "detail"),
    [
        (lambda: pictures.as_sequence(pictures.heic(), keep_still=False), "an image sequence without a still image"),
        (lambda: pictures.heic().replace(b"hvc1", b"vvc1", 1), "a vvc-coded primary image"),
    ],
    ids=["sequence-without-still", "vvc-coded"],
)
def test_what_cannot_be_decoded_here_is_rejected_as_unsupported(tmp_path, build, detail):
    found = inspected(tmp_path, build())
    assert (found.accepted, found.reason) == (False, "unsupported-heif")
    assert heif.scan(tmp_path / "upload").unsupported == detail


def test_the_pixel_limit_is_checked_on_the_header_before_libheif(tmp_path, monkeypatch):
    found = inspected(tmp_path, pictures.heic(UPRIGHT), limit=96 * 64 - 1)
    assert (found.accepted, found.reason) == (False, "too-many-pixels")
    data = bytearray(pictures.heic(UPRIGHT))
    ispe = data.index(b"ispe")
    data[ispe + 8 : ispe + 16] = struct.pack(">II", 30000, 30000)  # 900 MP claimed
    monkeypatch.setattr(heif, "register", lambda: pytest.fail("libheif was reached"))
    found = inspected(tmp_path, bytes(data))
    assert (found.reason, found.width, found.height) == ("too-many-pixels", 30000, 30000)


# --- metadata, privacy, duplicates ---------------------------------------------------------


def test_metadata_like_a_camera_jpegs_and_no_gps_in_outputs(tmp_path):
    exif = pictures.camera_exif(orientation=6, gps=(-33.8568, 151.2153))
    stored = pictures.stored_as(6, UPRIGHT)
    data = pictures.heic(stored, orientation=6, exif=exif, icc_profile=pictures.display_p3_profile())
    out = Converted(tmp_path, data, keep_location=True)
    assert out.metadata == {
        "width": 96,
        "height": 64,
        "orientation": 6,
        "capturedAt": "2024-05-01T14:03:22.120+02:00",
        "cameraMake": "Google",
        "cameraModel": "Pixel 9 Pro",
        "lens": "Pixel 9 Pro back camera 6.9mm f/1.68",
        "hasLocation": True,
        "latitude": "-33.8568000",
        "longitude": "151.2153000",
        "heifBrand": "heic",
        "imageCount": 1,
        "bitDepth": 8,
        "colourProfile": "Display P3",
        "colourSpace": "RGB",
    }
    for image, path in ((out.png, out.png_path), (out.thumb, out.thumb_path)):
        raw = path.read_bytes()
        assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
        assert pictures.SERIAL_NUMBER.encode() not in raw and b"Pixel 9 Pro" not in raw and b"Exif\0\0" not in raw
    path = tmp_path / "again"
    path.write_bytes(data)
    kept_out = images.inspect(path, "heic", LIMIT, False, BOTH).metadata
    assert kept_out["hasLocation"] is True and "latitude" not in kept_out


def test_the_photos_item_of_a_heif(tmp_path):
    out = Converted(tmp_path, pictures.heic(pictures.stored_as(6, UPRIGHT), orientation=6, bits=10))
    file_type = json.loads(json.dumps(out.found.to_dict()))  # as the state carries it
    uniqueness = {"contentHash": "h", "perceptualHash": "p"}
    outputs = written_outputs(bytes=1, width=1, height=1)
    state = with_results({"userId": "u"}, fileType=file_type, uniqueness=uniqueness, outputs=outputs)
    item = photos.new_item(SourceObject("uploads", "uploads/u/IMG_0001.HEIC", 1), state)
    assert (item["width"], item["height"], item["storedWidth"], item["storedHeight"]) == (96, 64, 64, 96)
    assert (item["heifBrand"], item["bitDepth"], item["orientation"], item["colourMode"]) == ("heix", 10, 6, "RGB")


def test_the_same_picture_as_heic_and_as_a_jpeg_export_has_the_same_perceptual_hash(tmp_path):
    picture = pictures.photo("chelsea.jpg").resize((320, 213))
    p3 = pictures.display_p3_profile()
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(pictures.heic(pictures.stored_as(6, picture), orientation=6, icc_profile=p3))
    as_srgb = ImageCms.profileToProfile(picture, ImageCms.ImageCmsProfile(io.BytesIO(p3)), SRGB, outputMode="RGB")
    exports = {
        "same-profile": pictures.jpeg_bytes(picture, icc_profile=p3, quality=85),
        # "Most compatible": converted to sRGB, smaller, EXIF-rotated instead of a transform.
        "srgb-smaller": pictures.oriented_jpeg(6, as_srgb.resize((240, 160))),
    }
    original = images.perceptual_hash(heic, LIMIT)
    for name, data in exports.items():
        jpeg = tmp_path / f"{name}.jpg"
        jpeg.write_bytes(data)
        assert images.hamming_distance(original, images.perceptual_hash(jpeg, LIMIT)) <= 4, name
    other = tmp_path / "other.jpg"
    other.write_bytes(pictures.jpeg_bytes(pictures.photo("coffee.jpg").resize((320, 213))))
    assert images.hamming_distance(original, images.perceptual_hash(other, LIMIT)) > 12
