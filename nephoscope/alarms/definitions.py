"""Alarm definitions: the record, Monasca's validation and update rules, and their table.

Definitions live in the metadata database (``<data dir>/alarms.sqlite`` beside alarms and
notification methods, or the cluster's database): small rows changed one at a time. The name is
unique per tenant by the database's constraint, so two nodes creating the same name at once
make one definition and one 409. Every read and write takes the tenant.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from nephoscope.alarms.expression import (
    Expression,
    ExpressionError,
    SubExpression,
    parse,
    sub_expressions,
)
from nephoscope.errors import Rejected, unknown_names
from nephoscope.metrics.ingest import validation
from nephoscope.sql import Database
from nephoscope.sql.schema import alarm_definitions
from nephoscope.tenancy import ALL_TENANTS

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
ACTION_FIELDS = ("alarm_actions", "ok_actions", "undetermined_actions")
SORT_FIELDS = ("id", "name", "severity", "updated_at", "created_at")


class DefinitionError(Exception):
    """A request Monasca refuses: ``status`` 422 (invalid), 409 (duplicate name) or 404."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status, self.title, self.description = status, title, description


@dataclass
class AlarmDefinition:
    id: str
    tenant: str
    name: str
    expression: str
    description: str = ""
    match_by: list[str] = field(default_factory=list)
    severity: str = "LOW"
    alarm_actions: list[str] = field(default_factory=list)
    ok_actions: list[str] = field(default_factory=list)
    undetermined_actions: list[str] = field(default_factory=list)
    actions_enabled: bool = True
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def parsed(self) -> Expression:
        return _parsed(self.expression)

    @property
    def sub_expressions(self) -> tuple[SubExpression, ...]:
        return _sub_expressions(self.expression)

    @property
    def sub_texts(self) -> tuple[str, ...]:
        """Each sub-expression's normalised text (for reasons and history)."""
        return _sub_texts(self.expression)

    @property
    def deterministic(self) -> bool:
        return all(sub.deterministic for sub in self.sub_expressions)


# The evaluator asks for a definition's expression at every alarm it creates or changes;
# parsed expressions are immutable, so one parse per distinct text serves them all.
@functools.lru_cache(maxsize=16384)
def _parsed(text: str) -> Expression:
    return parse(text)


@functools.lru_cache(maxsize=16384)
def _sub_expressions(text: str) -> tuple[SubExpression, ...]:
    return tuple(sub_expressions(_parsed(text)))


@functools.lru_cache(maxsize=16384)
def _sub_texts(text: str) -> tuple[str, ...]:
    return tuple(sub.text() for sub in _sub_expressions(text))


def _invalid(description: str) -> DefinitionError:
    return DefinitionError(422, "Unprocessable Entity", description)


def _text(body: dict, name: str, maximum: int, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    if len(value) > maximum:
        raise _invalid(f"{name} must be at most {maximum} characters")
    return value


def _actions(body: dict, name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 50 for v in value):
        raise _invalid(f"{name} must be a list of notification method ids (at most 50 characters each)")
    if len(set(value)) != len(value):
        raise _invalid(f"{name} lists the same notification method twice")
    return value


def parse_expression(text: object) -> Expression:
    if text is not None and not isinstance(text, str):
        raise _invalid(f"expression must be a string such as \"avg(cpu.utilization_perc) > 90 times 3\", "
                       f"not {type(text).__name__}")
    if not text or not text.strip():
        raise _invalid("expression is required")
    try:
        return parse(text)
    except ExpressionError as error:
        raise DefinitionError(422, "Invalid alarm expression", str(error)) from None


_REQUIRED = {
    "create": ("name", "expression"),
    # PUT replaces the whole definition: Monasca requires every field.
    "replace": ("name", "expression", "description", "match_by", "severity", *ACTION_FIELDS, "actions_enabled"),
    "patch": (),
}
FIELDS = ("name", "description", "expression", "match_by", "severity", *ACTION_FIELDS, "actions_enabled")
# What a GET answers besides the fields: a client that edits an answer and sends it back is not wrong.
_ECHOED = ("id", "links", "deterministic", "expression_data")


def validated_fields(body: dict, mode: Literal["create", "replace", "patch"]) -> dict:
    """The definition fields present in a POST, PUT or PATCH body, checked as Monasca does."""
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    problem = unknown_names("field", (k for k in body if k not in _ECHOED), FIELDS)
    if problem:  # a misspelt "sevrity" must not make a LOW definition
        raise _invalid(problem)
    for name in _REQUIRED[mode]:
        if name not in body:
            raise _invalid(f"{name} is required")
    fields: dict = {}
    if "name" in body:
        fields["name"] = _text(body, "name", 255)
        if not fields["name"].strip():
            raise _invalid("name must not be empty")
    if "description" in body:
        fields["description"] = _text(body, "description", 255, "") or ""
    if "expression" in body:
        parse_expression(body["expression"])
        fields["expression"] = body["expression"]
    if "match_by" in body:
        match_by = body["match_by"] or []
        if not isinstance(match_by, list):
            raise _invalid("match_by must be a list of dimension names")
        for key in match_by:
            try:
                validation.check_dimension_key(key, "match_by")
            except Rejected as error:
                raise _invalid(error.message) from None
        fields["match_by"] = list(match_by)
    if "severity" in body:
        severity = body["severity"]
        if not isinstance(severity, str) or severity.upper() not in SEVERITIES:
            raise _invalid(f"severity must be one of {', '.join(SEVERITIES)}")
        fields["severity"] = severity.upper()
    for name in ACTION_FIELDS:
        if name in body:
            fields[name] = _actions(body, name)
    if "actions_enabled" in body:
        if not isinstance(body["actions_enabled"], bool):
            raise _invalid("actions_enabled must be true or false")
        fields["actions_enabled"] = body["actions_enabled"]
    return fields


def check_update(current: AlarmDefinition, fields: dict) -> None:
    """What may not change on update: match_by, the number of sub-expressions and their metrics."""
    if "match_by" in fields and fields["match_by"] != current.match_by:
        raise _invalid("match_by must not change")
    if "expression" in fields:
        old, new = sub_expressions(current.parsed), sub_expressions(parse(fields["expression"]))
        if len(old) != len(new):
            raise _invalid("number of subexpressions must not change")
        for before, after in zip(old, new):
            if (before.metric_name, before.dimensions) != (after.metric_name, after.dimensions):
                raise _invalid("metrics in subexpression must not change")


Listener = Callable[[str, AlarmDefinition], None]
"""Called with ("created" | "updated" | "deleted", definition) after each committed change."""


class DefinitionStore:
    def __init__(self, data_dir: Path) -> None:
        self.database = Database(data_dir, "alarms.sqlite", ("definitions",))
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _publish(self, change: str, definition: AlarmDefinition) -> None:
        for listener in self._listeners:
            listener(change, definition)

    @staticmethod
    def _row(row: tuple) -> AlarmDefinition:
        return AlarmDefinition(
            id=row[0], tenant=row[1], name=row[2], description=row[3], expression=row[4],
            match_by=json.loads(row[5]), severity=row[6], alarm_actions=json.loads(row[7]),
            ok_actions=json.loads(row[8]), undetermined_actions=json.loads(row[9]),
            actions_enabled=bool(row[10]), created_at=row[11], updated_at=row[12])

    def _save(self, definition: AlarmDefinition, insert: bool) -> None:
        values = {"tenant": definition.tenant, "name": definition.name, "description": definition.description,
                  "expression": definition.expression, "match_by": json.dumps(definition.match_by),
                  "severity": definition.severity, "alarm_actions": json.dumps(definition.alarm_actions),
                  "ok_actions": json.dumps(definition.ok_actions),
                  "undetermined_actions": json.dumps(definition.undetermined_actions),
                  "actions_enabled": int(definition.actions_enabled), "created_at": definition.created_at,
                  "updated_at": definition.updated_at}
        try:
            with self.database.transaction() as connection:
                if insert:
                    connection.execute(alarm_definitions.insert().values(id=definition.id, **values))
                else:
                    connection.execute(alarm_definitions.update().where(alarm_definitions.c.id == definition.id)
                                       .values(**values))
        except sa.exc.IntegrityError:
            raise DefinitionError(409, "Conflict",
                                  f"An alarm definition with the name {definition.name!r} already exists") from None

    def create(self, tenant: str, fields: dict) -> AlarmDefinition:
        now = time.time()
        definition = AlarmDefinition(id=str(uuid.uuid4()), tenant=tenant, created_at=now, updated_at=now,
                                     **{"description": "", **fields})
        self._save(definition, insert=True)
        self._publish("created", definition)
        return definition

    def get(self, scope: str, definition_id: str) -> AlarmDefinition:
        query = sa.select(alarm_definitions).where(alarm_definitions.c.id == definition_id)
        if scope != ALL_TENANTS:
            query = query.where(alarm_definitions.c.tenant == scope)
        with self.database.read() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise DefinitionError(404, "Not Found", f"No alarm definition with id {definition_id}")
        return self._row(row)

    def update(self, scope: str, definition_id: str, fields: dict) -> AlarmDefinition:
        current = self.get(scope, definition_id)
        check_update(current, fields)
        for name, value in fields.items():
            setattr(current, name, value)
        current.updated_at = time.time()
        self._save(current, insert=False)
        self._publish("updated", current)
        return current

    def delete(self, scope: str, definition_id: str) -> AlarmDefinition:
        current = self.get(scope, definition_id)
        with self.database.transaction() as connection:
            connection.execute(alarm_definitions.delete().where(alarm_definitions.c.id == definition_id))
        self._publish("deleted", current)
        return current

    def list(self, scope: str, name: str | None = None, severities: list[str] | None = None,
             dimensions: tuple[tuple[str, tuple[str, ...] | None], ...] = (),
             sort_by: list[tuple[str, bool]] | None = None) -> list[AlarmDefinition]:
        d = alarm_definitions.c
        query = sa.select(alarm_definitions)
        if scope != ALL_TENANTS:
            query = query.where(d.tenant == scope)
        if name:
            query = query.where(d.name == name)
        if severities:
            query = query.where(d.severity.in_(severities))
        with self.database.read() as connection:
            definitions = [self._row(tuple(row)) for row in connection.execute(query)]
        if dimensions:
            definitions = [d for d in definitions if _has_dimensions(d, dimensions)]
        order = sort_by or [("id", False)]
        severity_rank = {s: i for i, s in enumerate(SEVERITIES)}
        for field_name, descending in reversed(order):
            key = (lambda d: severity_rank[d.severity]) if field_name == "severity" else \
                (lambda d, f=field_name: getattr(d, f))
            definitions.sort(key=key, reverse=descending)
        return definitions


def _has_dimensions(definition: AlarmDefinition, wanted: tuple[tuple[str, tuple[str, ...] | None], ...]) -> bool:
    """Monasca's `dimensions` filter: some sub-expression carries each wanted dimension."""
    dims = {k: v for sub in sub_expressions(definition.parsed) for k, v in sub.dimensions}
    return all(key in dims and (values is None or dims[key] in values) for key, values in wanted)
