"""CloudFront, emulated: the photo app's distribution, and the app served from its bucket.

    adapter.py       the distribution and its origin access control from the template
    app_site.py      the app served at `/_app/<stage>/` from its private bucket, as the
                     distribution serves it (root object, 403 for a missing key)

Differs from AWS: no distribution serves anything (`*.cloudfront.net` does not resolve here),
no caching, no edge; the local cloud reads the bucket with its own rights, which stand for the
origin access control's (tests/test_app.py).
"""
