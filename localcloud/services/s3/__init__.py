"""S3, emulated: moto's S3, adapted (adapter.py, each gap with its test).

    adapter.py       notifications from templates, sent asynchronously with a sequencer;
                     presigned POST policies enforced (expiry, conditions, sizes); a deleted or
                     overwritten object's bytes freed, versions listed without copying them

Presigned URLs' signatures and expiry are checked by IAM (services/iam/presigned.py).
Differs from AWS: a presigned POST's signature is not checked (the local cloud accepts any
credentials; tests/test_moto_adapter.py); S3 events can be dropped on request to test the
reconciler (localcloud/faults.py; tests/test_delivery.py), where AWS drops them rarely.
"""
