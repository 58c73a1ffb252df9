"""DynamoDB gaps (moto.dynamodb), closed here:

1. moto answers a Query on a table's own key by filtering every item of the table (and a
   Scan-sized list is built for it), so its time grows with the table; DynamoDB reads only
   the queried partition. The query is given that partition alone: results, order, Limit and
   paging are moto's own. (Queries on an index are left as they are.)
   Test: test_a_table_query_reads_only_its_partition.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.models.table import Table

_partition = threading.local()  # the table and the items a running Query may see
_every_item = Table.all_items


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
            return only[1]
        return _every_item(self)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
