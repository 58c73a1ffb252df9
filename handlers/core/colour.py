"""Colour decisions for one photo. The PNG and the thumbnail are made by different functions
from the same file: both ask `plan()` how to read the decoded pixels, so the outputs of one
photo always agree in colour.

The rules, case by case:
- an RGB or grey profile that libpng accepts is kept in the PNG byte for byte (wide-gamut
  photos stay wide-gamut: Display P3 from phones, Adobe RGB from cameras);
- one of the old sRGB profiles libpng complains about (HP/Microsoft) is swapped for the
  compact sRGB profile: same colours, no warning;
- any other profile that cannot go into a PNG as it is (CMYK, also from YCCK and
  Adobe-inverted JPEGs, which the decoder already turns into plain CMYK; an RGB profile
  libpng rejects) is applied: the PNG gets the pixels converted to sRGB, and sRGB embedded;
- a profile that cannot be read, or that describes other pixels than the file has (a CMYK
  profile on RGB pixels, ...), is ignored: the pixels are read as sRGB and the reason is
  logged and recorded;
- no profile, but a HEIF `nclx` colour description (primaries and transfer function, as
  phones write it): sRGB and Display P3 (the iPhone's) get the matching profile written here,
  embedded in the PNG with the pixels untouched, so the file's meaning is kept; a description
  no ICC matrix profile can carry (HDR PQ or HLG transfer, unusual primaries) is read as sRGB
  and the reason recorded;
- no profile: an RGB camera JPEG that says in EXIF it uses the DCF option colour space
  (Adobe RGB, ColorSpace = uncalibrated and interoperability index R03) is read as Adobe
  RGB and the PNG is tagged with a compatible profile; CMYK without a profile can only be
  converted naively; anything else is sRGB and the PNG is left untagged, as the file was.
Thumbnails are always 8-bit sRGB with the compact sRGB profile embedded."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageCms

from . import icc

SRGB_ICC = icc.rgb_profile("sRGB IEC61966-2.1 (compact)", icc.SRGB_PRIMARIES)
ADOBE_RGB_ICC = icc.rgb_profile(
    "Adobe RGB (1998) compatible (EXIF DCF option colour space)",
    icc.ADOBE_RGB_PRIMARIES,
    curve=icc.ADOBE_RGB_GAMMA,
)
DISPLAY_P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
DISPLAY_P3_ICC = icc.rgb_profile("Display P3 (compact)", DISPLAY_P3_PRIMARIES)
_SRGB = ImageCms.ImageCmsProfile(io.BytesIO(SRGB_ICC))
# ITU-T H.273 code points that a matrix/TRC profile can carry, with what they are called.
_NCLX_PRIMARIES = {
    1: ("sRGB", icc.SRGB_PRIMARIES),
    9: ("BT.2020", ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))),
    12: ("Display P3", DISPLAY_P3_PRIMARIES),
}
_BT709_CURVE = (1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081)
_NCLX_CURVES: dict[int, tuple[str, float | tuple[float, ...]]] = {
    13: ("sRGB", icc.SRGB_CURVE),
    1: ("BT.709", _BT709_CURVE),
    6: ("BT.709", _BT709_CURVE),
    14: ("BT.709", _BT709_CURVE),
    15: ("BT.709", _BT709_CURVE),
    4: ("gamma 2.2", 2.2),
    5: ("gamma 2.8", 2.8),
    8: ("linear", 1.0),
}
_UNSPECIFIED = 2
_PROFILE_SPACE = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}
_DESCRIPTION_CHARS = 120


@dataclass
class ColourPlan:
    """How one photo's decoded pixels are to be read, and what its PNG carries."""

    mode: str
    transform: ImageCms.ImageCmsTransform | None  # decoded pixels -> sRGB; None: they are sRGB
    png_profile: bytes | None  # embedded in the PNG as is; None: no profile
    png_converts: bool  # the PNG's pixels go through `transform` first
    description: str | None  # of the profile the file carries
    colour_space: str | None  # the profile's colour space, or what EXIF declares
    problem: str | None = None  # why the file's profile was not used as it is

    def png_pixels(self, image: Image.Image) -> Image.Image:
        """The pixels the PNG stores: converted when the plan says so (in place when the mode
        stays RGB; CMYK needs one more full-size buffer), otherwise as decoded."""
        if self.png_converts and self.transform is not None:
            if image.mode == "RGB":
                self.transform.apply_in_place(image)
                return image
            return self.transform.apply(image)
        return image if image.mode in ("RGB", "L") else image.convert("RGB")

    def srgb(self, image: Image.Image) -> Image.Image:
        """8-bit sRGB pixels (for the thumbnail)."""
        if self.transform is not None:
            return self.transform.apply(image)
        return image if image.mode == "RGB" else image.convert("RGB")


def _exif_colour_space(exif_colour_space: int | None, interop_index: str | None) -> str | None:
    if exif_colour_space == 1:
        return "sRGB"
    if exif_colour_space == 0xFFFF:
        return "Adobe RGB (DCF)" if interop_index == "R03" else "uncalibrated"
    return None


def _transform(source: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(source))
    return ImageCms.buildTransform(profile, _SRGB, mode, "RGB")


def _description(source: bytes) -> str | None:
    try:
        text = ImageCms.ImageCmsProfile(io.BytesIO(source)).profile.profile_description
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    text = "".join(ch for ch in (text or "") if ch.isprintable()).strip()
    return text[:_DESCRIPTION_CHARS] or None


@lru_cache(maxsize=8)
def nclx_profile(primaries: int, transfer: int) -> tuple[bytes | None, str, str | None]:
    """(the profile for a HEIF nclx colour description, its name, why there is none).
    Unspecified code points mean sRGB's, as in the decoder."""
    primaries = 1 if primaries == _UNSPECIFIED else primaries
    transfer = 13 if transfer == _UNSPECIFIED else transfer
    if primaries not in _NCLX_PRIMARIES or transfer not in _NCLX_CURVES:
        name = f"nclx primaries {primaries}, transfer {transfer}"
        return None, name, f"{name}: no ICC matrix profile describes it (HDR or unusual): read as sRGB"
    (space, chromaticities), (curve_name, curve) = _NCLX_PRIMARIES[primaries], _NCLX_CURVES[transfer]
    if curve_name == "sRGB" and space in ("sRGB", "Display P3"):
        return (SRGB_ICC if space == "sRGB" else DISPLAY_P3_ICC), space, None
    name = f"{space} primaries, {curve_name} transfer"
    return icc.rgb_profile(f"{name} (HEIF nclx)", chromaticities, curve=curve), name, None


def _nclx_plan(mode: str, nclx: tuple[int, int]) -> ColourPlan:
    """A HEIF's nclx description read like an embedded profile: the PNG keeps the pixels and
    carries the matching profile; the thumbnail is converted from it."""
    profile, name, problem = nclx_profile(*nclx)
    if profile is None:
        return ColourPlan(mode, None, None, False, None, name, problem)
    transform = None if profile == SRGB_ICC else _transform(profile, mode)
    return ColourPlan(mode, transform, profile, False, None, name)


def plan(
    mode: str,
    embedded: bytes | None,
    exif_colour_space: int | None = None,
    interop_index: str | None = None,
    nclx: tuple[int, int] | None = None,
) -> ColourPlan:
    declared = _exif_colour_space(exif_colour_space, interop_index)
    if not embedded and nclx is not None and mode == "RGB":
        return _nclx_plan(mode, nclx)
    if not embedded:
        if mode == "RGB" and declared == "Adobe RGB (DCF)":
            return ColourPlan(mode, _transform(ADOBE_RGB_ICC, mode), ADOBE_RGB_ICC, False, None, declared)
        problem = "CMYK without a colour profile: converted without colour management" if mode == "CMYK" else None
        return ColourPlan(mode, None, None, False, None, declared, problem)
    ignored = ColourPlan(mode, None, None, False, _description(embedded), declared)
    try:
        head = icc.header(embedded)
        transform = _transform(embedded, mode) if head.colour_space == _PROFILE_SPACE.get(mode) else None
    except (icc.ProfileError, ImageCms.PyCMSError, OSError, ValueError) as error:
        ignored.problem = f"unreadable colour profile ({error}): ignored"
        return ignored
    described = ColourPlan(mode, transform, None, False, ignored.description, head.colour_space)
    if transform is None:
        ignored.problem = f"a {head.colour_space} colour profile on {mode} pixels: ignored"
        ignored.colour_space = head.colour_space
        return ignored
    if mode == "CMYK":
        described.png_profile, described.png_converts = SRGB_ICC, True
        return described
    reason = icc.png_problem(embedded, grey=mode == "L")
    if reason is None:
        described.png_profile = embedded
    elif icc.is_known_srgb(embedded):
        described.png_profile = SRGB_ICC
        described.problem = f"{reason}: replaced by the compact sRGB profile"
    else:
        described.png_profile, described.png_converts = SRGB_ICC, True
        described.problem = f"{reason}: converted to sRGB"
    return described
