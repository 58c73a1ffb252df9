import re
from datetime import UTC, datetime, timedelta

import pytest

from handlers.core import keys

PHOTO = "0123456789abcdef" + "0" * 48


@pytest.mark.parametrize(
    ("source", "png", "thumbnail", "original"),
    [
        (
            "uploads/u/cat.jpg",
            "png/u/cat-0123456789abcdef.png",
            "thumbnails/u/cat-0123456789abcdef.jpg",
            "originals/u/cat-0123456789abcdef.jpg",
        ),
        (
            "uploads/u/CAT.JPG",
            "png/u/CAT-0123456789abcdef.png",
            "thumbnails/u/CAT-0123456789abcdef.jpg",
            "originals/u/CAT-0123456789abcdef.JPG",
        ),
        (
            "uploads/u/cat.jpeg",
            "png/u/cat-0123456789abcdef.png",
            "thumbnails/u/cat-0123456789abcdef.jpg",
            "originals/u/cat-0123456789abcdef.jpeg",
        ),
        # the article's key.replace('.jpg', '.png') would have touched the folder and the middle
        (
            "uploads/a.jpg/my.jpg.old.jpg",
            "png/a.jpg/my.jpg.old-0123456789abcdef.png",
            "thumbnails/a.jpg/my.jpg.old-0123456789abcdef.jpg",
            "originals/a.jpg/my.jpg.old-0123456789abcdef.jpg",
        ),
        (
            "uploads/u/2024/summer/été à Paris+1.jpg",
            "png/u/2024/summer/été à Paris+1-0123456789abcdef.png",
            "thumbnails/u/2024/summer/été à Paris+1-0123456789abcdef.jpg",
            "originals/u/2024/summer/été à Paris+1-0123456789abcdef.jpg",
        ),
        (
            "uploads/u/noextension",
            "png/u/noextension-0123456789abcdef.png",
            "thumbnails/u/noextension-0123456789abcdef.jpg",
            "originals/u/noextension-0123456789abcdef",
        ),
    ],
)
def test_output_keys_replace_only_the_extension(source, png, thumbnail, original):
    outputs = keys.output_keys(source, "uploads/", PHOTO)
    assert (outputs.png, outputs.thumbnail, outputs.original) == (png, thumbnail, original)


def test_outputs_never_land_under_the_upload_prefix():
    for key in ("uploads/x.jpg", "uploads/uploads/x.jpg", "x.jpg"):
        assert not any(k.startswith("uploads/") for k in keys.output_keys(key, "uploads/", PHOTO).all())


def test_user_id_comes_from_the_first_folder():
    assert keys.user_id_of("uploads/alice/a/b.jpg", "uploads/") == "alice"
    assert keys.user_id_of("uploads/b.jpg", "uploads/") == keys.ANONYMOUS_USER
    assert keys.user_id_of("uploads/bad user!/b.jpg", "uploads/") == keys.ANONYMOUS_USER


def test_upload_keys_are_fresh_and_safe():
    first = keys.new_upload_key("uploads/", "bob", "../../etc/pass wd.jpg")
    second = keys.new_upload_key("uploads/", "bob", "../../etc/pass wd.jpg")
    assert first != second
    assert re.fullmatch(r"uploads/bob/[0-9a-f]{32}-pass-wd\.jpg", first)
    assert keys.new_upload_key("uploads/", "bob", None).endswith("-photo.jpg")


def test_user_ids_are_validated():
    assert keys.normalise_user_id(None) == keys.ANONYMOUS_USER
    with pytest.raises(ValueError):
        keys.normalise_user_id("../admin")


def test_execution_names_are_deterministic_per_upload_version_and_attempt_and_valid():
    when = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)
    version = keys.object_version(when, '"0123abcd"')
    assert version == keys.object_version(when.replace(microsecond=0), "0123abcd")  # a listing's ms, HEAD's seconds
    name = keys.execution_name("b", "uploads/u/été à Paris+1.jpg", version)
    assert name == keys.execution_name("b", "uploads/u/été à Paris+1.jpg", version, attempt=1)
    assert name != keys.execution_name("b", "uploads/u/été à Paris+1.jpg", version, attempt=2)
    later = keys.object_version(when + timedelta(seconds=1), "0123abcd")  # the same bytes uploaded again
    assert name != keys.execution_name("b", "uploads/u/été à Paris+1.jpg", later)
    assert name != keys.execution_name("other", "uploads/u/été à Paris+1.jpg", version)
    for made in (name, keys.execution_name("b", "uploads/" + "é" * 300, version, 99)):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", made)
    with pytest.raises(ValueError):
        keys.execution_name("b", "k", version, attempt=100)


def test_an_execution_name_tells_its_upload_and_attempt():
    version = keys.object_version(datetime(2026, 1, 1, tzinfo=UTC), "e")
    parsed = keys.parse_execution_name(keys.execution_name("b", "uploads/u/my-photo-1.jpg", version, 7))
    assert parsed == keys.ExecutionName(
        keys.key_tag("b", "uploads/u/my-photo-1.jpg"), keys.version_tag("b", "uploads/u/my-photo-1.jpg", version), 7
    )
    assert (
        keys.parse_execution_name(keys.execution_name("b", "uploads/u/ééé", version)).attempt == 1
    )  # no readable part
    for foreign in ("3f2a1b4c-1111-2222-3333-444455556666", "photo-0123456789abcdef0123456789abcdef", "x-1"):
        assert keys.parse_execution_name(foreign) is None
    report = keys.poison_report_key("poison/", "b", "uploads/u/a.jpg", version)
    assert report.startswith("poison/a-") and report.endswith(".json")
    tags = (keys.key_tag("b", "uploads/u/a.jpg"), keys.version_tag("b", "uploads/u/a.jpg", version))
    assert keys.parse_poison_report_key("poison/", report) == tags


def test_every_execution_name_of_a_key_starts_with_its_prefix():
    version = keys.object_version(datetime(2026, 1, 1, tzinfo=UTC), "e")
    for key in ("uploads/u/été à Paris+1.jpg", "uploads/u/" + "long-name" * 10 + ".jpg", "uploads/u/.jpg"):
        prefix = keys.execution_name_prefix(key)
        assert keys.execution_name("b", key, version).startswith(prefix)
        assert keys.execution_name("b", key, version, attempt=3).startswith(prefix)
    assert keys.execution_name_prefix("uploads/u/photo.JPG") == "photo-"
    assert keys.execution_name_prefix("uploads/u/%%%.jpg") == ""


# -- backfills -----------------------------------------------------------------------------------


def test_a_staged_copy_is_named_like_the_upload_it_stands_for():
    staged = keys.staged_key("backfill/staged/", "import-1", "archive", "2019/a.jpg", "alice/2019/a.jpg")
    assert staged.startswith("backfill/staged/import-1/") and staged.endswith("/alice/2019/a.jpg")
    assert keys.staged_key("backfill/staged/", "import-1", "archive", "2019/b.jpg", "alice/2019/a.jpg") != staged
    assert keys.relative_key(staged, "uploads/", "backfill/staged/") == "alice/2019/a.jpg"
    assert keys.user_id_of(staged, "uploads/", "backfill/staged/") == "alice"
    outputs = keys.output_keys(staged, "uploads/", PHOTO, "backfill/staged/")
    assert outputs == keys.output_keys("uploads/alice/2019/a.jpg", "uploads/", PHOTO)


def test_an_original_copy_names_the_upload_it_was_made_from():
    original = keys.output_keys("uploads/alice/trip/a.b.JPG", "uploads/", PHOTO).original
    assert keys.upload_path_of_original(original) == "alice/trip/a.b.JPG"
    for other in ("png/alice/a-0123456789abcdef.png", "originals/alice/a.jpg", "originals/alice/a-XYZ.jpg"):
        with pytest.raises(ValueError):
            keys.upload_path_of_original(other)


def test_a_backfill_item_names_its_object_and_the_upload_it_becomes():
    from handlers.core import backfill
    from handlers.core.errors import BackfillItemInvalid

    assert backfill.item_key({"Key": "a/b.jpg", "Size": 3}) == "a/b.jpg"  # a listing or a CSV row
    assert backfill.item_key({"key": "a/b.jpg"}) == backfill.item_key("a/b.jpg") == "a/b.jpg"  # JSON
    for bad in ({}, {"Key": ""}, "folder/", 3, None):
        with pytest.raises(BackfillItemInvalid):
            backfill.item_key(bad)
    assert backfill.upload_path("import", "old/2019/a.jpg", "old/", "alice") == ("alice", "alice/2019/a.jpg")
    assert backfill.upload_path("import", "x.jpg", "", "") == ("anonymous", "anonymous/x.jpg")
    original = keys.output_keys("uploads/bob/a.jpg", "uploads/", PHOTO).original
    assert backfill.upload_path("regenerate", original, "originals/", "ignored") == ("bob", "bob/a.jpg")
    with pytest.raises(BackfillItemInvalid):
        backfill.upload_path("regenerate", "originals/bob/a.jpg", "originals/", "")
    with pytest.raises(BackfillItemInvalid):
        backfill.upload_path("copy", "a.jpg", "", "")
    own = ("uploads/", "backfill/", "poison/")
    for workflows in ("uploads/carol/a.jpg", "backfill/staged/run/x.jpg", "poison/uploads/a.jpg.json"):
        with pytest.raises(BackfillItemInvalid, match="the workflow's own"):
            backfill.refuse_workflow_objects("up", workflows, "up", own)
    backfill.refuse_workflow_objects("up", "import/a.jpg", "up", own)  # a photo put there to import
    backfill.refuse_workflow_objects("archive", "uploads/a.jpg", "up", own)  # another bucket's own layout
