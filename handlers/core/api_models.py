"""The photos API's answers as typed models: Powertools validates each answer against them
and writes the OpenAPI document (docs/api/openapi.json) from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from . import library


class Error(BaseModel):
    """Every refusal of the API's own (API Gateway's are `{"message": ...}` too)."""

    message: str = Field(description="what was wrong, for a person to read")


class PhotoSummary(BaseModel):
    id: str = Field(description="the photo's id (the SHA-256 of its bytes)")
    fileName: str = Field(description="the file name it was uploaded under")
    uploadedAt: str = Field(description="when it was recorded (ISO 8601, UTC)")
    capturedAt: str | None = Field(None, description="the camera's clock when it was taken (ISO 8601), if recorded")
    bytes: int | None = Field(None, description="size of the uploaded file")
    width: int | None = Field(None, description="upright width in pixels")
    height: int | None = Field(None, description="upright height in pixels")
    nearDuplicateOf: str | None = Field(None, description="the id of your own photo this one is nearly the same as")
    hadLocation: bool = Field(False, description="whether the upload carried GPS coordinates")
    thumbnailUrl: str | None = Field(None, description="a short-lived GET URL of its preview")
    thumbHash: str | None = Field(None, description="a tiny placeholder to paint before any picture loads (base64)")
    renditions: list[Rendition] = Field(
        default_factory=list, description="web-ready pictures of it, smallest first (for srcset)"
    )


class Rendition(BaseModel):
    name: str = Field(description="the rendition's name in the stage's RENDITIONS (preview, small, ...)")
    format: str = Field(description="its image format (webp, avif, jpeg)")
    width: int = Field(description="its width in pixels")
    height: int = Field(description="its height in pixels")
    url: str = Field(description="a short-lived GET URL of it")


class PhotoPage(BaseModel):
    photos: list[PhotoSummary]
    cursor: str | None = Field(None, description="pass as ?cursor= for the next page; absent on the last page")


class PhotoDetail(PhotoSummary):
    cameraMake: str | None = None
    cameraModel: str | None = None
    lens: str | None = None
    downloads: dict[str, str] = Field(
        description="a short-lived GET URL for each stored output (original, png, thumbnail, ...)"
    )
    downloadsExpireIn: int = Field(description="seconds the download URLs work for")


class UploadStatus(BaseModel):
    status: Literal["waiting", "processing", "processed", "rejected", "duplicate", "failed"] = Field(
        description="waiting (no run yet), processing, processed, rejected, duplicate (of your own photo) or failed"
    )
    photoId: str | None = Field(None, description="processed: the photo's id (GET /photos/{photo_id})")
    duplicateOf: str | None = Field(None, description="duplicate: the id of your photo with the same bytes")
    reason: str | None = Field(None, description="rejected or failed: why")


class AccountErasure(BaseModel):
    done: bool = Field(description="true: everything is erased, including the sign-in; false: call again")
    photos: int = Field(description="photos erased by this call")
    uploads: int = Field(description="uploads still in the upload bucket erased by this call")


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """The listing's fields of a photo record."""
    return {
        "id": item["photoId"],
        "fileName": library.file_name(item),
        "uploadedAt": item["uploadedAt"],
        "capturedAt": item.get("capturedAt"),
        "bytes": _int(item.get("sourceBytes")),
        "width": _int(item.get("width")),
        "height": _int(item.get("height")),
        "nearDuplicateOf": library.near_duplicate_of(item),
        "hadLocation": bool(item.get("hasLocation")),
        "thumbHash": item.get("thumbHash"),
        "renditions": library.rendition_links(item),
    }
