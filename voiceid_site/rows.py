"""Single-row reads and writes in hand-written SQL, for the statements every live-call request makes.

The ORM spends 0.2-0.5 ms of CPU compiling each query (`filter(...).first()` on the 31-column session row,
`objects.create`), where SQLite runs the statement itself in a few hundredths of that. A live call makes four
requests a second, each reading its domain and its session and most writing a chunk, so at 50 calls the
compiling alone took a fifth of a core of the two. These helpers build the same statements from the model's
own metadata (table, columns, each field's conversion to and from the database), so a new column needs no
change here and callers still get and pass model instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _lock_clause(for_update: bool) -> str:
    # select_for_update() is a no-op on SQLite, whose writers lock the whole file; so is this.
    return " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""


def _db_value(model: type[Model], name: str, value: Any) -> Any:
    """`value` of field `name` as the database compares it (a datetime as SQLite stores it, say)."""
    return model._meta.get_field(name).get_db_prep_value(value, connection)


def row_by_key[M: Model](
    model: type[M], *, columns: Sequence[str], values: Sequence[Any], for_update: bool = False
) -> M | None:
    """The row of `model` whose `columns` (database column names) equal `values`; None if there is none.

    The columns must make a unique key (the query takes the first row it finds). `for_update` locks the row
    until the transaction ends, as `select_for_update()` does. The row comes back as a model instance through
    `Model.objects.raw`, with every field's database converter applied.
    """
    where = " AND ".join(f"{_quote(column)} = %s" for column in columns)
    sql = f"SELECT * FROM {_quote(model._meta.db_table)} WHERE {where} LIMIT 1{_lock_clause(for_update)}"
    found = list(model._default_manager.raw(sql, list(values)))
    return found[0] if found else None


def lock_if_unchanged(instance: Model, *, fields: Sequence[str]) -> bool:
    """Inside a transaction: lock `instance`'s row if its `fields` still hold the values `instance` has
    (a compare-and-swap); False, locking nothing, if the row changed or is gone."""
    model = type(instance)
    meta = model._meta
    names = [meta.pk.name, *fields]
    where = " AND ".join(f"{_quote(meta.get_field(name).column)} = %s" for name in names)
    params = [_db_value(model, name, getattr(instance, name)) for name in names]
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
