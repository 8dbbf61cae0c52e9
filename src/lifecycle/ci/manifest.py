"""What the pull-request check needs from dbt's artifacts: models with their keys and contracts, and results.

Breaking changes follow dbt's definition for contracted models: a column removed or retyped, a ``not_null``
constraint dropped, the contract no longer enforced, or the model removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecycle.ci.diff import MartDiff
from lifecycle.errors import LifecycleError


@dataclass(frozen=True)
class Model:
    unique_id: str
    name: str
    database: str
    schema: str
    primary_key: tuple[str, ...]
    contracted: bool
    columns: tuple[str, ...]  # as declared in the properties YAML
    not_null: frozenset[str]  # columns with a not_null constraint in the contract


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    message: str

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[-1]

    @property
    def failed(self) -> bool:
        return self.status in {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class Source:
    schema: str
    identifier: str


def read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise LifecycleError(f"Cannot read dbt artifact {path}: {error}") from error
    return data


def models(manifest: Mapping[str, Any]) -> dict[str, Model]:
    """Every model in a manifest by unique id, with dbt's inferred primary key (unique + not_null tests)."""
    found = {}
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") != "model":
            continue
        columns = node.get("columns") or {}
        found[unique_id] = Model(
            unique_id=unique_id,
            name=node["name"],
            database=node["database"],
            schema=node["schema"],
            primary_key=tuple(node.get("primary_key") or ()),
            contracted=bool((node.get("contract") or {}).get("enforced")),
            columns=tuple(columns),
            not_null=frozenset(
                name
                for name, column in columns.items()
                if any(c.get("type") == "not_null" for c in column.get("constraints") or [])
            ),
        )
    return found


def sources(manifest: Mapping[str, Any]) -> list[Source]:
    return [Source(source["schema"], source["identifier"]) for source in manifest.get("sources", {}).values()]


def results(run_results: Mapping[str, Any]) -> list[NodeResult]:
    return [
        NodeResult(
            unique_id=node.get("unique_id", "?"),
            resource_type=node.get("unique_id", "?").split(".")[0],
            status=str(node.get("status")),
            message=str(node.get("message") or ""),
        )
        for node in run_results.get("results", [])
    ]


def production_as_of(run_results: Mapping[str, Any]) -> str | None:
    """The as-of date the production build ran with (YYYY-MM-DD), if it set one.

    ``lifecycle transform`` passes it as an environment variable, which dbt records in the artifact's
    ``metadata.env``; a hand-run ``dbt build --vars '{as_of: ...}'`` records it under ``args.vars``.
    """
    env = (run_results.get("metadata") or {}).get("env") or {}
    value = env.get("LIFECYCLE_AS_OF") or ((run_results.get("args") or {}).get("vars") or {}).get("as_of")
    return str(value) if value else None


def breaking_changes(
    production: Mapping[str, Model], pr: Mapping[str, Model], diffs: Sequence[MartDiff]
) -> list[str]:
    """Contract breaks of models contracted in production, one sentence each (empty: none)."""
    found = []
    by_relation = {(m.schema, m.name): m for m in pr.values()}
    for unique_id, before in production.items():
        if not before.contracted:
            continue
        after = pr.get(unique_id)
        if after is None:
            found.append(f"`{before.schema}.{before.name}` (contracted) was removed or renamed")
            continue
        if not after.contracted:
            found.append(f"`{before.schema}.{before.name}`: contract no longer enforced")
        for column in sorted((before.not_null - after.not_null) & set(after.columns)):
            found.append(f"`{before.schema}.{before.name}`: not_null constraint on `{column}` dropped")
    contracted = {(m.schema, m.name) for m in production.values() if m.contracted}
    for diff in diffs:
        if (diff.schema, diff.name) not in contracted or (diff.schema, diff.name) not in by_relation:
            continue
        found += [
            f"`{diff.schema}.{diff.name}`: {change.describe()}"
            for change in diff.schema_changes
            if change.kind != "added"
        ]
    return found
