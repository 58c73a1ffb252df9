"""API Gateway, emulated: moto keeps the REST API from the template; the local cloud serves it.

    adapter.py       moto's API Gateway adapted: CORS preflight methods, binary media types,
                     the Cognito authoriser and each method's use of it, stage throttling
    rest_api.py      the REST API served at `/_api/<stage>/` and at its own execute-api host:
                     routing, proxy events, throttling (a token bucket per stage)
    authorizer.py    the Cognito user pool authoriser: signature, issuer, expiry, audience

Differs from AWS (tests/test_auth.py, tests/test_photos_api.py show what is emulated):
- per-method throttling, usage plans and the account-level limit are not emulated;
- AWS_IAM and Lambda authorisers are not: such a method answers 500 and says so;
- the authoriser's result cache is not: every request is checked (authorizer.py);
- moto signs every pool's tokens with one published key pair: a local token proves nothing
  outside the local cloud.
"""
