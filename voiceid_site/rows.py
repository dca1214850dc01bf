"""Single-row reads and writes in hand-written SQL, for the statements every live-call request makes.

The ORM spends 0.2-0.5 ms of CPU compiling each query (`filter(...).first()` on the 31-column session row,
`objects.create`), where SQLite runs the statement itself in a few hundredths of that. A live call makes four
requests a second, each reading its domain and its session and most writing a chunk, so at 50 calls the
compiling alone took a fifth of a core of the two. These helpers build the same statements from the model's
own metadata (table, columns, each field's conversion to and from the database), so a new column needs no
change here and callers still get and pass model instances.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.transaction import TransactionManagementError


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _lock_clause(for_update: bool) -> str:
    # select_for_update() is a no-op on SQLite, whose writers lock the whole file; so is this.
    if not (for_update and connection.features.has_select_for_update):
        return ""
    if connection.get_autocommit():
        # As the ORM refuses it: outside a transaction the lock would end with the statement.
        raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
    return " FOR UPDATE"


def _equals(field: Field[Any, Any], value: Any) -> tuple[str, list[Any]]:
    """`column = value` as the ORM's exact lookup writes it (IS NULL for None)."""
    if value is None:
        return f"{_quote(field.column)} IS NULL", []
    return f"{_quote(field.column)} = %s", [field.get_db_prep_value(value, connection)]


def _differs(field: Field[Any, Any], value: Any) -> tuple[str, list[Any]]:
    """`NOT (column = value)` as the ORM's exclude() writes it: a NULL column differs from any value."""
    if value is None:
        return f"{_quote(field.column)} IS NOT NULL", []
    condition, params = _equals(field, value)
    if field.null:
        condition = f"({_quote(field.column)} IS NULL OR NOT ({condition}))"
    else:
        condition = f"NOT ({condition})"
    return condition, params


def _where(pairs: Sequence[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    return " AND ".join(condition for condition, _ in pairs), [
        param for _, params in pairs for param in params
    ]


@dataclass(frozen=True)
class _Reader:
    """How rows of one model are selected and turned back into instances on one kind of database."""

    columns: str  # the SELECT list: every concrete field's column, in the model's field order
    attnames: list[str]
    fields: dict[str, Field[Any, Any]]  # by column name
    # (position, converters, column expression): what the ORM applies to values it reads (text to datetime
    # on SQLite, JSON text to objects, ...), found once per model as its compiler finds them per query.
    converters: list[tuple[int, list[Any], Any]]


# Per connection (each thread has its own, and keeps it): the backend's converters are its own methods.
_readers: weakref.WeakKeyDictionary[BaseDatabaseWrapper, dict[type[Model], _Reader]] = (
    weakref.WeakKeyDictionary()
)


def _reader(model: type[Model]) -> _Reader:
    wrapper = connections[connection.alias or DEFAULT_DB_ALIAS]
    known = _readers.setdefault(wrapper, {})
    if model not in known:
        known[model] = _new_reader(model, wrapper)
    return known[model]


def _new_reader(model: type[Model], wrapper: BaseDatabaseWrapper) -> _Reader:
    fields = model._meta.concrete_fields
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = wrapper.ops.get_db_converters(column) + column.get_db_converters(wrapper)
        if found:
            converters.append((position, found, column))
    return _Reader(
        columns=", ".join(wrapper.ops.quote_name(field.column) for field in fields),
        attnames=[field.attname for field in fields],
        fields={field.column: field for field in fields},
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
    reader = _reader(model)
    where, params = _where(
        [_equals(reader.fields[column], value) for column, value in zip(columns, values, strict=True)]
    )
    sql = (
        f"SELECT {reader.columns} FROM {_quote(model._meta.db_table)} WHERE {where} LIMIT 1"
        f"{_lock_clause(for_update)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
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
    where, params = _where([_equals(field, getattr(instance, field.attname)) for field in targets])
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
    pairs = [_equals(meta.pk, instance.pk)]
    pairs += [_equals(field, getattr(instance, field.attname)) for field in map(meta.get_field, unchanged)]
    pairs += [_differs(meta.get_field(name), value) for name, value in (differing or {}).items()]
    where, conditions = _where(pairs)
    sql = f"UPDATE {_quote(meta.db_table)} SET {assignments} WHERE {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params + conditions)
        return cursor.rowcount
