"""Statements compiled once per dialect, for the few that every write request sends.

``Connection.execute`` does a lot per call besides the database's work: it derives the
statement's cache key (walking the whole statement), looks up the compiled form, builds an
execution context, then processes parameters and results; ``Session.execute`` adds the ORM's
dispatch on top. Profiling an identity provider's creates, executing their statements this way
took about three times the CPU that SQLite spent on them. A ``Prepared`` statement is compiled
once per dialect, and each call sends its SQL text on the driver's cursor, with the parameters
and result values converted by the type processors SQLAlchemy would use. The session's pending
objects are flushed first as ``Session.execute`` would, the statement runs in the session's
transaction, and the driver's errors are raised as SQLAlchemy's (``IntegrityError``,
``OperationalError``), as ``Connection.execute`` raises them.

Where something watches the statements sent (a ``before_cursor_execute`` or
``after_cursor_execute`` listener, the dialect's events, the engine's ``echo``), the statement is
sent with ``Connection.exec_driver_sql`` instead, so that everything watching sees it. Elsewhere
that machinery (an execution context and a result object per statement) would only add its cost:
sending a create's statements through it took longer than SQLite's work on them.

Only plain statements qualify: no expanding ``IN`` lists or other parameters rendered into the
SQL at execution time (refused when compiled). An ``INSERT`` or ``UPDATE`` whose values come from
the parameters is compiled for the keys named in ``columns``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Form:
    """A statement compiled for one dialect: its SQL, and what to send for each of its binds, in
    order (a positional paramstyle repeats a parameter used twice) or by ``names``."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    # Each bind: the parameter's key (None for a value fixed in the statement), that value, and
    # the type's processor.
    binds: tuple[tuple[str | None, Any, Processor | None], ...]
    results: tuple[Processor | None, ...]


@dataclass(frozen=True, slots=True)
class PreparedResult:
    """What a prepared statement returned: its rows (already fetched) and the rows it changed."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def one(self) -> tuple[Any, ...]:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Prepared:
    """A Core statement on tables, compiled once per dialect and sent as SQL text."""

    def __init__(self, statement: ClauseElement, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._forms: dict[tuple[str, str], _Form] = {}  # by (dialect, driver)

    def execute(self, bind: Session | Connection, params: Mapping[str, Any]) -> PreparedResult:
        """Run the statement with ``params`` in the session's (or connection's) transaction."""
        if isinstance(bind, Session):
            if bind.autoflush:  # as Session.execute does: pending objects are written first
                bind.flush()
            connection = bind.connection()
        else:
            connection = bind
        dialect = connection.dialect
        form = self._forms.get((dialect.name, dialect.driver)) or self._compile(dialect)
        values = []
        for key, fixed, process in form.binds:
            if key is None:
                values.append(fixed)
            else:
                value = params[key]
                values.append(value if process is None else process(value))
        sent: Any = tuple(values) if form.positional else dict(zip(form.names, values, strict=True))
        if _watched(connection):
            result = connection.exec_driver_sql(form.sql, sent)
            returns_rows = result.returns_rows
            fetched: Sequence[Any] = result.fetchall() if returns_rows else []
            rowcount = result.rowcount
        else:
            returns_rows, fetched, rowcount = _on_the_cursor(connection, form.sql, sent)
        if not returns_rows:
            return PreparedResult([], int(rowcount or 0))
        processors = form.results
        rows = [
            tuple(value if p is None else p(value) for p, value in zip(processors, row, strict=True))
            for row in fetched
        ]
        # Counted here: with rows returned, the drivers' rowcounts differ (pysqlite's grows as the
        # rows are stepped through, psycopg's is gone once they are fetched).
        return PreparedResult(rows, len(rows))

    def _compile(self, dialect: Dialect) -> _Form:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.columns)
        assert isinstance(compiled, SQLCompiler)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a Prepared statement cannot have parameters rendered at execution")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError(
                "a Prepared statement must be sent every column it writes (defaults computed in Python are not run)"
            )
        by_name: dict[str, tuple[str | None, Any, Processor | None]] = {}
        for bind, name in compiled.bind_names.items():
            if bind.callable is not None:
                raise ValueError("a Prepared statement cannot have parameters computed at execution")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                by_name[name] = (bind.key, None, process)
            else:  # a value written into the statement: processed once, here
                by_name[name] = (None, bind.value if process is None else process(bind.value), None)
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(by_name)
        selected = getattr(self.statement, "exported_columns", None) or []
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in selected
        )
        form = _Form(
            sql=compiled.string,
            positional=compiled.positional,
            names=names,
            binds=tuple(by_name[name] for name in names),
            results=results,
        )
        self._forms[(dialect.name, dialect.driver)] = form
        return form


def _watched(connection: Connection) -> bool:
    """Whether anything sees the statements ``connection`` sends: cursor events, the dialect's
    events (``do_execute``, ``handle_error``), or logging (``echo``)."""
    dispatch = connection.dispatch
    return bool(
        connection._echo  # what Connection itself checks before it logs
        or connection.dialect._has_events
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
    )


def _on_the_cursor(connection: Connection, sql: str, params: Any) -> tuple[bool, Sequence[Any], int]:
    """Send ``sql`` on a cursor of ``connection``'s driver connection, in its transaction (begun
    here if it has not begun, as ``Connection.execute`` would), and give back whether it returned
    rows, the rows, and its rowcount. A driver's error is raised as ``Connection.execute`` raises
    it: wrapped in SQLAlchemy's exception, and a lost connection invalidated."""
    if not connection.in_transaction():
        connection.begin()
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        returns_rows = cursor.description is not None
        rows = cursor.fetchall() if returns_rows else []
        rowcount = cursor.rowcount
    except BaseException as exc:
        connection._handle_dbapi_exception(exc, sql, params, cursor, None)  # raises
    cursor.close()
    return returns_rows, rows, rowcount


def instance_of(mapped: type[T], row: Mapping[str, Any]) -> T:
    """An object of a mapped class holding ``row`` (attribute names to values), filled as the ORM
    fills an object it loads: straight into its state, without an attribute event per column
    (the constructor's events cost as much as a prepared INSERT of the same row). It is
    transient; ``make_transient_to_detached`` makes it the persistent form of a row just written.
    """
    instance: T = inspect(mapped).class_manager.new_instance()
    inspect(instance).dict.update(row)
    return instance
