import re

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


def test_execution_names_are_deterministic_per_event_and_valid():
    name = keys.execution_name("b", "uploads/u/été à Paris+1.jpg", "0055AED6DCD90281E5")
    assert name == keys.execution_name("b", "uploads/u/été à Paris+1.jpg", "0055AED6DCD90281E5")
    assert name != keys.execution_name("b", "uploads/u/été à Paris+1.jpg", "0055AED6DCD90281E6")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", keys.execution_name("b", "uploads/" + "é" * 300, None))


def test_every_execution_name_of_a_key_starts_with_its_prefix():
    for key in ("uploads/u/été à Paris+1.jpg", "uploads/u/" + "long-name" * 10 + ".jpg", "uploads/u/.jpg"):
        prefix = keys.execution_name_prefix(key)
        assert keys.execution_name("b", key, "01").startswith(prefix)
        assert keys.execution_name("b", key, None).startswith(prefix)
    assert keys.execution_name_prefix("uploads/u/photo.JPG") == "photo-"
    assert keys.execution_name_prefix("uploads/u/%%%.jpg") == ""
