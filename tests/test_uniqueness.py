"""The uniqueness policy: the band layout, the decision, and CheckForDuplicate and
WriteToDynamoDb called in-process on real photos against the deployed tables of the local
cloud, for every setting that changes an outcome."""

from __future__ import annotations

import itertools
import json
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from handlers import check_duplicate, write_to_dynamodb
from handlers.core import config, images, photos, uniqueness
from handlers.core.errors import ConfigurationError, DuplicatePhoto
from handlers.core.uniqueness import Found, Near, Photo, Policy, Upload
from handlers.core.workflow import SourceObject
from localcloud.tools.deploy import PROJECT
from tests import images as pictures
from tests.workflow_states import with_results, workflow_input, written_outputs

# At the default distance (4 bits), measured on chelsea.jpg: bits apart from the photo.
NEAR = {
    "burst (scene shifted 2%)": 2,
    "brightened 20%": 0,
    "re-encoded at quality 50": 0,
    "resized to half": 0,
    "recoloured (another photo, same layout)": 2,  # distinct, yet near: why `reject` is not the default
}
DISTINCT = {"cropped 5% on every side", "mirrored"}


def perceptual_hash(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(data)
        file.flush()
        return images.perceptual_hash(Path(file.name), 10**8)


# --- the band layout ---------------------------------------------------------------------


@pytest.mark.parametrize("distance", range(uniqueness.MAX_DISTANCE + 1))
def test_hashes_within_the_distance_share_a_band_and_the_bands_cover_64_bits(distance):
    widths = uniqueness.band_widths(distance)
    assert len(widths) == distance + 1 and sum(widths) == 64 and max(widths) - min(widths) <= 1
    rng = random.Random(distance)
    for _ in range(300):
        first = rng.getrandbits(64)
        flipped = sum(1 << bit for bit in rng.sample(range(64), rng.randint(0, distance)))
        a, b = f"{first:016x}", f"{first ^ flipped:016x}"
        assert set(uniqueness.bands(a, distance)) & set(uniqueness.bands(b, distance)), (a, b)


def test_one_bit_more_than_the_distance_can_change_every_band():
    """Why each candidate's full distance is checked, and why k+1 bands are enough: k+1
    flipped bits, one per band, leave no band in common."""
    distance, shift, flipped = 4, 64, 0
    for width in uniqueness.band_widths(distance):
        shift -= width
        flipped |= 1 << shift
    assert not set(uniqueness.bands("0" * 16, distance)) & set(uniqueness.bands(f"{flipped:016x}", distance))


def test_index_entries_are_per_user_or_shared_with_the_all_users_scope():
    # 0x0123456789abcdef in bands of 13, 13, 13, 13 and 12 bits, from the top
    own = uniqueness.index_to_write(Policy(), "ann", "c" * 64, "0123456789abcdef")
    assert own["bands"] == [f"user/ann/d4/b{band}" for band in ("0.24", "1.d15", "2.13c4", "3.1abc", "4.def")]
    assert own["claim"] is None and own["member"] == "ann/" + "c" * 64
    shared = uniqueness.index_to_write(Policy(scope="all-users"), "ann", "c" * 64, "0123456789abcdef")
    assert all(entry.startswith("all-users/d4/b") for entry in shared["bands"])
    assert shared["claim"] == "all-users/sha256/" + "c" * 64


# --- the decision ------------------------------------------------------------------------

UPLOAD = Upload("uploads-bucket", "uploads/bob/new.jpg", "bob")
BOBS = Photo("bob", "b" * 64, "uploads/bob/earlier.jpg")
ANNS = Photo("annika", "a" * 64)  # another user's: no upload key is ever read for it


def test_an_exact_copy_of_the_users_own_photo_is_skipped_and_its_upload_deleted():
    answer = uniqueness.decide(Policy(), UPLOAD, Found(own_exact=BOBS))
    assert (answer["duplicate"], answer["action"], answer["notify"], answer["keepUpload"]) == (
        True,
        "skip",
        True,
        False,
    )
    assert answer["notice"]["message"].startswith("uploads/bob/new.jpg is a duplicate of uploads/bob/earlier.jpg")
    assert (answer["of"], answer["ofKey"]) == (BOBS.photo_id, BOBS.source_key)
    silent = uniqueness.decide(Policy(own_exact="skip-silently"), UPLOAD, Found(own_exact=BOBS))
    assert (silent["duplicate"], silent["notify"], silent["keepUpload"]) == (True, False, False)
    # a second run of an upload that an earlier run recorded (it failed before deleting the upload)
    recorded = Photo(BOBS.user_id, BOBS.photo_id, UPLOAD.key)
    itself = uniqueness.decide(Policy(), UPLOAD, Found(own_exact=recorded))
    assert (itself["duplicate"], itself["notify"], itself["keepUpload"]) == (True, False, False)


@pytest.mark.parametrize("rejected_upload", ["keep", "delete"])
def test_another_users_photo_is_rejected_without_naming_it(rejected_upload):
    rejecting = Policy(scope="all-users", near="reject", rejected_upload=rejected_upload)
    for found in (Found(other_exact=ANNS), Found(near=[Near(ANNS, 3)])):
        answer = uniqueness.decide(rejecting, UPLOAD, found)
        message = answer["notice"]["message"]
        assert (answer["duplicate"], answer["action"], answer["owner"]) == (True, "reject", "other")
        assert "another user's library" in message and "annika" not in message and "a" * 16 not in message
        assert "of" not in answer and "ofKey" not in answer
        assert answer["keepUpload"] is (rejected_upload == "keep")
        assert ("Your upload was kept: s3://uploads-bucket/uploads/bob/new.jpg" in message) is (
            rejected_upload == "keep"
        )
    # A near copy of another user's photo, with near duplicates flagged: processed.
    flagging = Policy(scope="all-users", rejected_upload=rejected_upload)
    flagged = uniqueness.decide(flagging, UPLOAD, Found(near=[Near(ANNS, 3)]))
    assert (flagged["duplicate"], flagged["similarTo"]) == (
        False,
        {"owner": "other", "userId": "annika", "photoId": ANNS.photo_id, "distance": 3},
    )


def test_the_users_own_near_photo_is_the_one_named_even_if_another_users_is_closer():
    found = Found(near=[Near(ANNS, 0), Near(BOBS, 3)])
    answer = uniqueness.decide(Policy(scope="all-users", near="reject"), UPLOAD, found)
    assert (answer["owner"], answer["ofKey"], answer["distance"]) == ("self", "uploads/bob/earlier.jpg", 3)
    assert "3 bits of 64 away from your photo uploads/bob/earlier.jpg" in answer["notice"]["message"]
    flagged = uniqueness.decide(Policy(scope="all-users"), UPLOAD, found)
    assert flagged["similarTo"] == {
        "owner": "self",
        "photoId": BOBS.photo_id,
        "sourceKey": BOBS.source_key,
        "distance": 3,
    }


def test_nothing_found_is_processed():
    answer = uniqueness.decide(Policy(near="reject", scope="all-users"), UPLOAD, Found())
    assert (answer["duplicate"], answer["action"], answer["notify"], answer["keepUpload"]) == (
        False,
        "process",
        False,
        False,
    )
    assert "similarTo" not in answer


EVERY_POLICY = [
    Policy(scope, own_exact, near, rejected_upload)
    for scope, own_exact, near, rejected_upload in itertools.product(
        uniqueness.SCOPES, uniqueness.OWN_EXACT_CHOICES, uniqueness.NEAR_CHOICES, uniqueness.REJECTED_UPLOAD_CHOICES
    )
]
EVERY_FIND = {
    "nothing": Found(),
    "own exact": Found(own_exact=BOBS),
    "other's exact": Found(other_exact=ANNS),
    "own near": Found(near=[Near(BOBS, 2)]),
    "other's near": Found(near=[Near(ANNS, 1)]),
    "both near": Found(near=[Near(ANNS, 0), Near(BOBS, 4)]),
}


@pytest.mark.parametrize("policy", EVERY_POLICY, ids=lambda p: f"{p.scope},{p.own_exact},{p.near},{p.rejected_upload}")
def test_no_setting_loses_a_distinct_photo_silently(policy):
    """Every upload is processed (flagged when near), skipped as a byte-for-byte copy of the
    user's own stored photo, or rejected with a notice that names only the user's own photo
    and its upload kept or deleted as set; the defaults reject nothing."""
    for case, found in EVERY_FIND.items():
        if policy.scope == "user" and ("other" in case or "both" in case):
            continue  # the user scope never finds another user's photo (photos.find)
        answer = uniqueness.decide(policy, UPLOAD, found)
        if not answer["duplicate"]:
            assert answer["action"] == "process" and not answer["keepUpload"], case
            assert ("similarTo" in answer) is bool(found.near), case
            continue
        if answer["action"] == "skip":  # its very bytes are stored already: nothing is lost
            assert case == "own exact" and answer["notify"] is (policy.own_exact == "skip"), case
            assert not answer["keepUpload"] and answer["ofKey"] == BOBS.source_key, case
            continue
        assert answer["action"] == "reject" and answer["notify"] is True, case
        assert answer["keepUpload"] is (policy.rejected_upload == "keep"), case
        assert policy.near == "reject" or (case == "other's exact" and policy.scope == "all-users"), case
        message = answer["notice"]["message"]
        assert message.startswith(UPLOAD.key) and ANNS.user_id not in message and ANNS.photo_id[:16] not in message
        assert (BOBS.source_key in message) is (answer["owner"] == "self"), case
    defaults = [uniqueness.decide(Policy(), UPLOAD, EVERY_FIND[case]) for case in ("nothing", "own exact", "own near")]
    assert [answer["action"] for answer in defaults] == ["process", "skip", "process"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DUPLICATE_SCOPE", "everyone", "DUPLICATE_SCOPE must be one of user, all-users, got 'everyone'"),
        ("NEAR_DUPLICATE", "delete", "NEAR_DUPLICATE must be one of flag, reject, got 'delete'"),
        ("OWN_EXACT_DUPLICATE", "process", "OWN_EXACT_DUPLICATE must be one of skip, skip-silently, got 'process'"),
        ("REJECTED_DUPLICATE_UPLOAD", "", "environment variable REJECTED_DUPLICATE_UPLOAD is not set"),
        ("NEAR_DUPLICATE_DISTANCE", "11", "NEAR_DUPLICATE_DISTANCE must be at most 10, got 11"),
        ("NEAR_DUPLICATE_DISTANCE", "-1", "NEAR_DUPLICATE_DISTANCE must be at least 0, got -1"),
    ],
)
def test_a_wrong_setting_is_named(monkeypatch, name, value, message):
    defaults = {
        "DUPLICATE_SCOPE": "user",
        "OWN_EXACT_DUPLICATE": "skip",
        "NEAR_DUPLICATE": "flag",
        "NEAR_DUPLICATE_DISTANCE": "4",
        "REJECTED_DUPLICATE_UPLOAD": "keep",
    }
    for variable, default in (defaults | {name: value}).items():
        monkeypatch.setenv(variable, default)
    with pytest.raises(ConfigurationError, match=message):
        config.uniqueness_policy()


def test_the_deployed_defaults_are_the_policys_defaults(as_function):
    as_function("checkDuplicate")
    assert config.uniqueness_policy() == Policy()


@pytest.mark.parametrize("name", ["workflow-state.json", "after-process-file.json"])
def test_the_sample_events_carry_what_check_for_duplicate_answers(name):
    """`sls invoke local -p events/...` gives the later steps what CheckForDuplicate answers for
    the sample photo, with the default settings, in a library that does not hold it yet."""
    event = json.loads((PROJECT / "events" / name).read_text())
    photo, source = PROJECT / "samples" / "chelsea.jpg", SourceObject.from_state(event)
    content_hash, perceptual = images.content_hash(photo), images.perceptual_hash(photo, 10**8)
    decided = uniqueness.decide(Policy(), Upload(source.bucket, source.key, event["userId"]), Found())
    index = uniqueness.index_to_write(Policy(), event["userId"], content_hash, perceptual)
    expected = {"contentHash": content_hash, "perceptualHash": perceptual, **decided, "index": index}
    assert event["results"]["uniqueness"] == expected


# --- the handlers, in-process, against the deployed tables ---------------------------------


class Library:
    """Uploads checked by CheckForDuplicate and, when processed, recorded by WriteToDynamoDb,
    as the workflow would (the photo is staged in a bucket without a trigger)."""

    def __init__(self, s3, bucket: str, context, monkeypatch) -> None:
        self.s3, self.bucket, self.context, self.monkeypatch = s3, bucket, context, monkeypatch

    def policy(self, **settings: str) -> None:
        for name, value in settings.items():
            self.monkeypatch.setenv(name, value)

    def check(self, user: str, name: str, data: bytes) -> dict:
        key = f"uploads/{user}/{name}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        event = workflow_input(self.bucket, key, user, len(data))
        return with_results(event, uniqueness=check_duplicate.handler(event, self.context))

    def record(self, event: dict) -> dict:
        checked = event["results"]["uniqueness"]
        outputs = SourceObject.from_state(event).outputs(checked["contentHash"])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "photo.jpg"
            path.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=event["s3"]["object"]["key"])["Body"].read())
            file_type = images.inspect(path, "jpg", 10**8).to_dict()
        written = written_outputs(outputs, self.bucket, bytes=1, width=1, height=1)
        state = with_results(event, fileType=file_type, outputs=written)
        return write_to_dynamodb.handler(state, self.context)

    def upload(self, user: str, name: str, data: bytes) -> dict:
        """Checks, then records what the policy processes; returns the check's answer."""
        event = self.check(user, name, data)
        if not event["results"]["uniqueness"]["duplicate"]:
            self.record(event)
        return event["results"]["uniqueness"]

    def item(self, user: str, photo_id: str) -> dict | None:
        return photos.aws.get_item(config.photos_table(), photos.key(user, photo_id), consistent=True)


@pytest.fixture
def library(as_function, s3, context, monkeypatch, unique) -> Library:
    as_function("checkDuplicate")
    as_function("writeToDynamoDB")
    bucket = f"uniqueness-staging-{unique}"
    s3.create_bucket(Bucket=bucket)
    return Library(s3, bucket, context, monkeypatch)


@pytest.mark.parametrize("near_policy", ["flag", "reject"])
def test_burst_shots_and_edits_get_the_outcome_each_policy_gives(library, unique, near_policy):
    library.policy(NEAR_DUPLICATE=near_policy)
    original = pictures.jpeg_bytes(pictures.photo("chelsea.jpg"))
    first = library.upload(f"ann-{unique}", "original.jpg", original)
    assert (first["duplicate"], first["match"]) == (False, None)
    for number, (edit, data) in enumerate(pictures.burst_and_edits(pictures.photo("chelsea.jpg")).items()):
        user = f"ann-{unique}-{number}"  # the original and one edit in each library
        library.upload(user, "original.jpg", original)
        answer = library.upload(user, "edited.jpg", data)
        if edit in DISTINCT:
            assert (answer["duplicate"], answer["match"], "similarTo" in answer) == (False, None, False), edit
            continue
        if near_policy == "flag":  # processed, and the item records what it is close to
            assert (answer["duplicate"], answer["action"]) == (False, "process"), edit
            similar = {"owner": "self", "photoId": first["contentHash"], "sourceKey": f"uploads/{user}/original.jpg"}
            assert library.item(user, answer["contentHash"])["similarTo"] == similar | {"distance": NEAR[edit]}, edit
        else:  # not processed, the notice names the user's photo, the upload is kept
            assert (answer["duplicate"], answer["action"], answer["distance"]) == (True, "reject", NEAR[edit]), edit
            assert (answer["ofKey"], answer["keepUpload"], answer["notify"]) == (
                f"uploads/{user}/original.jpg",
                True,
                True,
            )
            assert f"from your photo uploads/{user}/original.jpg" in answer["notice"]["message"]
            assert library.item(user, answer["contentHash"]) is None


def test_the_same_bytes_are_each_users_own_photo_within_the_user_scope(library, unique):
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    ann, bob = f"ann-{unique}", f"bob-{unique}"
    assert library.upload(ann, "mine.jpg", data)["duplicate"] is False
    answer = library.upload(bob, "mine-too.jpg", data)
    assert (answer["duplicate"], answer["match"]) == (False, None)  # not even flagged: Ann's library is hers
    assert library.item(ann, answer["contentHash"])["sourceKey"] == f"uploads/{ann}/mine.jpg"
    assert library.item(bob, answer["contentHash"])["sourceKey"] == f"uploads/{bob}/mine-too.jpg"
    again = library.upload(bob, "once-more.jpg", data)
    assert (again["action"], again["ofKey"]) == ("skip", f"uploads/{bob}/mine-too.jpg")  # Bob's own, not Ann's


def test_the_all_users_scope_rejects_another_users_photo_and_never_names_it(library, unique):
    library.policy(DUPLICATE_SCOPE="all-users", REJECTED_DUPLICATE_UPLOAD="delete")
    # A real photo: its copies at 160x120 and 80x60 are 1-2 bits from it and from each other
    # (a random picture's may be 5 or more). No other test records it with the all-users scope.
    picture = pictures.photo("chelsea.jpg")
    ann, bob = f"ann-{unique}", f"bob-{unique}"
    anns = library.upload(ann, "ann-profile.jpg", pictures.jpeg_bytes(picture))
    assert anns["duplicate"] is False and anns["index"]["claim"]
    exact = library.upload(bob, "profile.jpg", pictures.jpeg_bytes(picture))
    assert (exact["duplicate"], exact["match"], exact["owner"], exact["keepUpload"]) == (True, "exact", "other", False)
    assert exact["notice"]["message"] == (
        f"uploads/{bob}/profile.jpg was not processed: the same photo is already in another user's library. "
        "The upload was deleted."
    )
    # A near copy follows NEAR_DUPLICATE: flagged by default (processed; the item names Ann's photo for operators) ...
    smaller = pictures.jpeg_bytes(picture.resize((160, 120)))
    flagged = library.upload(bob, "profile-small.jpg", smaller)
    assert (flagged["duplicate"], flagged["similarTo"]["owner"], flagged["similarTo"]["userId"]) == (
        False,
        "other",
        ann,
    )
    # ... or rejected, with a notice that names neither Ann nor her upload.
    library.policy(NEAR_DUPLICATE="reject")
    rejected = library.upload(bob, "profile-smaller.jpg", pictures.jpeg_bytes(picture.resize((80, 60))))
    assert (rejected["duplicate"], rejected["match"], rejected["owner"]) == (True, "near", "self")  # Bob's own now
    carol = library.upload(f"carol-{unique}", "profile.jpg", smaller)
    assert (carol["duplicate"], carol["match"], carol["owner"]) == (True, "exact", "other")  # Bob's bytes, claimed
    for answer in (exact, carol):
        assert ann not in answer["notice"]["message"] and bob not in answer["notice"]["message"].split(" ", 1)[1]
        assert "of" not in answer and "ofKey" not in answer


def test_concurrent_uploads_of_one_photo_are_recorded_once(library, unique):
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    user = f"ann-{unique}"
    checked = [library.check(user, f"copy-{n}.jpg", data) for n in range(4)]
    assert not any(event["results"]["uniqueness"]["duplicate"] for event in checked)  # none recorded yet

    def record(event: dict) -> str:
        try:
            library.record(event)
            return "recorded"
        except DuplicatePhoto:
            return "duplicate"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(record, checked))
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "recorded"]
    winner = checked[outcomes.index("recorded")]
    recorded = library.item(user, winner["results"]["uniqueness"]["contentHash"])
    assert recorded["sourceKey"] == winner["s3"]["object"]["key"]
    # RecheckDuplicate: each loser is now an exact copy of the winner, skipped.
    loser = checked[outcomes.index("duplicate")]
    again = check_duplicate.handler({k: v for k, v in loser.items() if k != "results"}, library.context)
    assert (again["action"], again["ofKey"]) == ("skip", winner["s3"]["object"]["key"])
    # A retry of the winner's own write (a Lambda retried after it wrote) succeeds.
    library.record(winner)


def test_concurrent_copies_from_two_users_record_one_with_the_all_users_scope(library, unique):
    library.policy(DUPLICATE_SCOPE="all-users")
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    checked = [library.check(f"{who}-{unique}", "same.jpg", data) for who in ("ann", "bob")]
    outcomes = []
    for event in checked:  # the second write finds the first's claim, as a concurrent run would
        try:
            library.record(event)
            outcomes.append("recorded")
        except DuplicatePhoto:
            outcomes.append("duplicate")
    assert outcomes == ["recorded", "duplicate"]
    bob = checked[1]
    assert library.item(f"bob-{unique}", bob["results"]["uniqueness"]["contentHash"]) is None
    again = check_duplicate.handler({k: v for k, v in bob.items() if k != "results"}, library.context)
    assert (again["action"], again["owner"], again["keepUpload"]) == ("reject", "other", True)


def test_a_recorded_photo_lists_the_index_entries_written_with_it(library, unique):
    """Whoever removes a photo (make verify's clean-up) finds its entries on its item, whatever
    the scope and distance were when it was recorded."""
    library.policy(DUPLICATE_SCOPE="all-users", NEAR_DUPLICATE_DISTANCE="6")
    user = f"ann-{unique}"
    answer = library.upload(user, "listed.jpg", pictures.jpeg_bytes(pictures.random_picture(unique.encode())))
    item = library.item(user, answer["contentHash"])
    listed = photos.index_keys(item)
    assert [key[photos.ENTRY] for key in listed] == [*answer["index"]["bands"], answer["index"]["claim"]]
    assert len(listed) == 8  # 7 bands at distance 6, and the content claim
    client = photos.aws._client("dynamodb")
    for key in listed:
        found = client.get_item(TableName=config.uniqueness_table(), Key={k: {"S": v} for k, v in key.items()})
        assert "Item" in found, key


def test_a_changed_distance_reads_only_entries_of_its_own_layout(library, unique):
    data = pictures.random_picture(unique.encode())
    user = f"ann-{unique}"
    library.upload(user, "first.jpg", pictures.jpeg_bytes(data))
    library.policy(NEAR_DUPLICATE_DISTANCE="6")
    answer = library.upload(user, "second.jpg", pictures.jpeg_bytes(data, quality=50))
    assert answer["match"] is None  # recorded with 5 bands, looked up with 7: not found, so processed
    assert all("/d6/" in entry for entry in answer["index"]["bands"])


def test_the_lookup_reads_a_bounded_number_of_entries_per_band(library, unique, monkeypatch):
    """A band value shared by many photos (plain dark pictures all hash alike) is read up to
    BAND_READ_LIMIT entries: the lookup stays bounded, and what it may miss is processed."""
    user = f"ann-{unique}"
    policy = Policy()
    table = config.uniqueness_table()
    hashes = [f"{0xFFFF << 48 | n:016x}" for n in range(photos.BAND_READ_LIMIT + 20)]  # band 0 is the same
    entries = [uniqueness.band_entries(policy, user, h)[0] for h in hashes]
    assert len(set(entries)) == 1
    client = photos.aws._client("dynamodb")
    for start in range(0, len(hashes), 25):
        client.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "entry": {"S": entries[0]},
                                "photo": {"S": f"{user}/{n:064x}"},
                                "perceptualHash": {"S": h},
                            }
                        }
                    }
                    for n, h in enumerate(hashes[start : start + 25], start)
                ]
            }
        )
    read: list[tuple[list, bool]] = []
    query = photos.aws.query_partition

    def counted(*args, **kwargs):
        read.append(query(*args, **kwargs))
        return read[-1]

    monkeypatch.setattr(photos.aws, "query_partition", counted)
    found = photos.find(config.photos_table(), table, policy, user, "f" * 64, "ffff000000000000")
    assert [len(items) for items, _ in read] == [photos.BAND_READ_LIMIT, 0, 0, 0, 0] and read[0][1] is True
    assert found.near and all(near.distance <= policy.distance for near in found.near)
