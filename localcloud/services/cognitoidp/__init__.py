"""Cognito user pools, emulated: moto's Cognito, adapted (adapter.py, each gap with its test).

    adapter.py       user pools and app clients from templates
    srp.py           SRP sign-in (USER_SRP_AUTH) computed for real, as browsers sign in

Differs from AWS: moto signs every pool's tokens with one key pair published in its source,
and keeps passwords in clear (tests/test_app_signin.py signs in with the real client library).
Local sign-in for the command line is a user's tool: localcloud/tools/signin.py.
"""
