"""DynamoDB, emulated: moto's DynamoDB, adapted (adapter.py, each gap with its test).

    adapter.py       a query reads its partition only; values copied in their wire form;
                     conditional writes and transactions under a lock

Differs from AWS: no capacity or throttling (on-demand tables are never throttled here),
and queries on an index still scan the table (adapter.py; tests/test_moto_adapter.py,
bench/uniqueness.py for the figures).
"""
