"""DynamoDB gaps (moto.dynamodb), closed here:

1. moto answers a Query on a table's own key by filtering every item of the table (and a
   Scan-sized list is built for it), so its time grows with the table; DynamoDB reads only
   the queried partition. The query is given that partition alone: results, order, Limit and
   paging are moto's own. (Queries on an index are left as they are.)
   Test: test_a_table_query_reads_only_its_partition.
2. moto writes every attribute value of an answer through its generic, model-driven JSON
   serializer, which looks up each of the ten members of an AttributeValue by name: a Query
   answering 15 small items took ~3 ms longer than one answering one item (1.4-1.7 against
   4.3-5.4 ms in-process on this kind of machine; more under load), where DynamoDB's time
   hardly depends on a few KB. With the values copied: 1.2-1.9 against 2.2-3.0 ms.
   A value already in DynamoDB's wire form with a scalar or string-set type (S, N, BOOL,
   NULL, SS, NS) is copied as it is; maps and lists are still walked (their members then
   take the short way), binary types take moto's way. The JSON is the same.
   Test: test_attribute_values_of_every_type_come_back_as_written.
3. moto's DynamoDB holds no lock, and the local cloud serves requests on many threads: two
   conditional writes of one item could both pass their condition; TransactWriteItems, which
   snapshots every table it touches and puts the snapshots back when a condition fails,
   undid the writes other requests had made meanwhile (a photo recorded by one run vanished
   when a concurrent run's transaction was cancelled), and its snapshot failed with a 500
   when another request wrote the table while it was being copied. DynamoDB's conditional writes
   are atomic and its transactions serializable. Requests to DynamoDB are served one at a
   time, each whole. (The snapshot itself still copies whole tables: a transaction's time
   grows with the tables it touches, locally only.)
   Test: test_concurrent_conditional_writes_and_transactions_are_atomic.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

_one_at_a_time = threading.RLock()  # every DynamoDB request, whole
_partition = threading.local()  # the table and the items a running Query may see
_every_item = Table.all_items
_serialize_structure = BaseJSONSerializer._serialize_type_structure
_DYNAMODB = frozenset({"dynamodb", "dynamodbstreams"})  # the services whose AttributeValue this is
_WIRE_FORM = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})  # JSON as moto holds them


def install() -> None:
    original_query = Table.query

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        found = self.items.get(hash_key)  # (a get: the defaultdict must not grow)
        items = [] if found is None else [found] if not self.range_key_attr else list(found.values())
        _partition.only = (self, items)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _partition.only = None

    def all_items(self: Table) -> list[Any]:
        only = getattr(_partition, "only", None)
        if only is not None and only[0] is self:
            items: list[Any] = only[1]
            return items
        return _every_item(self)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]

    def serialize_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and isinstance(value, dict)
            and len(value) == 1
            and self.operation_model.service_model.service_name in _DYNAMODB
        ):
            [(kind, data)] = value.items()
            if kind in _WIRE_FORM:
                self._default_serialize(serialized, {kind: data}, shape, key)
                return
        _serialize_structure(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]

    call_action = DynamoHandler.call_action

    def serialized_call_action(self: DynamoHandler) -> Any:
        with _one_at_a_time:
            return call_action(self)

    DynamoHandler.call_action = serialized_call_action  # type: ignore[method-assign]
