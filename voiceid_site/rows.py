"""Single-row reads and writes in hand-written SQL, for the statements every live-call request makes.

The ORM spends 0.2-0.5 ms of CPU compiling each query (`filter(...).first()` on the 31-column session row,
`objects.create`), where SQLite runs the statement itself in a few hundredths of that. A live call makes four
requests a second, each reading its domain and its session and most writing a chunk, so at 50 calls the
compiling alone took a fifth of a core of the two. These helpers build the same statements from the model's
own metadata (table, columns, each field's conversion to and from the database), so a new column needs no
change here and callers still get and pass model instances.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _lock_clause(for_update: bool) -> str:
    # select_for_update() is a no-op on SQLite, whose writers lock the whole file; so is this.
    return " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""


@dataclass(frozen=True)
class _Reader:
    """How rows of one model are selected and turned back into instances on one kind of database."""

    columns: str  # the SELECT list: every concrete field's column, in the model's field order
    attnames: list[str]
    # (position, converters, column expression): what the ORM applies to values it reads (text to datetime
    # on SQLite, JSON text to objects, ...), found once per model as its compiler finds them per query.
    converters: list[tuple[int, list[Any], Any]]


@functools.cache
def _reader(model: type[Model], vendor: str) -> _Reader:
    # Per vendor, not per connection: the converters are the backend's and the fields' own functions, which
    # every connection to that kind of database applies alike (each thread has its own connection).
    fields = model._meta.concrete_fields
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((position, found, column))
    return _Reader(
        columns=", ".join(_quote(field.column) for field in fields),
        attnames=[field.attname for field in fields],
        converters=converters,
    )


def row_by_key[M: Model](
    model: type[M], *, columns: Sequence[str], values: Sequence[Any], for_update: bool = False
) -> M | None:
    """The row of `model` whose `columns` (database column names) equal `values`; None if there is none.

    The columns must make a unique key (the query takes the first row it finds). `for_update` locks the row
    until the transaction ends, as `select_for_update()` does. The row comes back as a model instance
    (`Model.from_db`, as the ORM builds them), with every field's database converter applied.
    """
    reader = _reader(model, connection.vendor)
    where = " AND ".join(f"{_quote(column)} = %s" for column in columns)
    sql = (
        f"SELECT {reader.columns} FROM {_quote(model._meta.db_table)} WHERE {where} LIMIT 1"
        f"{_lock_clause(for_update)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(values))
        row = cursor.fetchone()
    if row is None:
        return None
    fetched = list(row)
    for position, converters, column in reader.converters:
        for converter in converters:
            fetched[position] = converter(fetched[position], column, connection)
    return model.from_db(connection.alias, reader.attnames, fetched)


def lock_if_unchanged(instance: Model, *, fields: Sequence[str]) -> bool:
    """Inside a transaction: lock `instance`'s row if its `fields` still hold the values `instance` has
    (a compare-and-swap); False, locking nothing, if the row changed or is gone."""
    meta = instance._meta
    targets = [meta.pk, *(meta.get_field(name) for name in fields)]
    where = " AND ".join(f"{_quote(field.column)} = %s" for field in targets)
    params = [field.get_db_prep_value(getattr(instance, field.attname), connection) for field in targets]
    sql = f"SELECT 1 FROM {_quote(meta.db_table)} WHERE {where}{_lock_clause(True)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def insert(instance: Model) -> None:
    """INSERT a new `instance` (as `save()` would for a model with an automatic primary key, sending no
    signals) and set its primary key."""
    meta = instance._meta
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    columns = ", ".join(_quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    sql = (
        f"INSERT INTO {_quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"RETURNING {_quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        (instance.pk,) = cursor.fetchone()
    instance._state.adding = False
    instance._state.db = connection.alias


def update(
    instance: Model,
    *,
    fields: Sequence[str],
    unchanged: Sequence[str] = (),
    differing: Mapping[str, Any] | None = None,
) -> int:
    """UPDATE `instance`'s row with the values of its `fields` (as `save(update_fields=...)` would, sending
    no signals); the number of rows updated, 0 or 1.

    A conditional update: only if the row still holds the values `instance` has for the fields in
    `unchanged`, and does not hold the values given in `differing` (field name to value).
    """
    meta = instance._meta
    targets = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{_quote(field.column)} = %s" for field in targets)
    params = [field.get_db_prep_save(getattr(instance, field.attname), connection) for field in targets]
    conditions = [f"{_quote(meta.pk.column)} = %s"]
    params.append(instance.pk)
    for field in (meta.get_field(name) for name in unchanged):
        conditions.append(f"{_quote(field.column)} = %s")
        params.append(field.get_db_prep_value(getattr(instance, field.attname), connection))
    for name, value in (differing or {}).items():
        field = meta.get_field(name)
        conditions.append(f"NOT ({_quote(field.column)} = %s)")
        params.append(field.get_db_prep_value(value, connection))
    sql = f"UPDATE {_quote(meta.db_table)} SET {assignments} WHERE {' AND '.join(conditions)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
