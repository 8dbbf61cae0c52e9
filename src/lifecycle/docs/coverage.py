"""The coverage page: tests per model and documented columns, from dbt's ``manifest.json`` and
``catalog.json`` (the columns the warehouse really has)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecycle.docs.layout import render_page


@dataclass(frozen=True)
class ModelCoverage:
    """One model's tests and documentation: how many tests, how many of its real columns are described."""

    unique_id: str
    name: str
    layer: str
    path: str
    has_description: bool
    data_tests: int
    unit_tests: int
    columns: int
    documented: int
    undocumented: tuple[str, ...]


def model_coverage(manifest: dict[str, Any], catalog: dict[str, Any] | None) -> list[ModelCoverage]:
    """One row per model of the project: pure, so it can be tested on a hand-made manifest."""
    nodes = manifest.get("nodes", {})
    project = manifest.get("metadata", {}).get("project_name")
    tests: Counter[str] = Counter()
    for node in nodes.values():
        if node.get("resource_type") != "test":
            continue
        # A generic test is attached to one model; a singular test counts for each model it reads.
        attached = node.get("attached_node")
        targets = [attached] if attached else node.get("depends_on", {}).get("nodes", [])
        for target in set(targets):
            tests[target] += 1
    unit: Counter[str] = Counter()
    for test in manifest.get("unit_tests", {}).values():
        for target in set(test.get("depends_on", {}).get("nodes", [])):
            unit[target] += 1
    catalog_nodes = (catalog or {}).get("nodes", {})
    rows = []
    for uid, node in nodes.items():
        if node.get("resource_type") != "model" or (project and node.get("package_name") != project):
            continue
        declared = {
            name.lower(): bool(str(col.get("description") or "").strip())
            for name, col in node.get("columns", {}).items()
        }
        actual = [name.lower() for name in catalog_nodes.get(uid, {}).get("columns", {})] or list(declared)
        documented = [c for c in actual if declared.get(c)]
        fqn = node.get("fqn") or []
        rows.append(
            ModelCoverage(
                unique_id=uid,
                name=node["name"],
                layer=fqn[1] if len(fqn) > 2 else "?",
                path=node.get("original_file_path", ""),
                has_description=bool(str(node.get("description") or "").strip()),
                data_tests=tests[uid],
                unit_tests=unit[uid],
                columns=len(actual),
                documented=len(documented),
                undocumented=tuple(c for c in actual if not declared.get(c)),
            )
        )
    layer_order = {"staging": 0, "intermediate": 1, "marts": 2}
    return sorted(rows, key=lambda r: (layer_order.get(r.layer, 9), r.name))


def read_coverage(target_dir: Path) -> list[ModelCoverage]:
    """Coverage from the manifest and catalog dbt wrote to ``target_dir`` (none before dbt ran)."""
    manifest_path, catalog_path = target_dir / "manifest.json", target_dir / "catalog.json"
    if not manifest_path.exists():
        return []
    catalog = json.loads(catalog_path.read_text()) if catalog_path.exists() else None
    return model_coverage(json.loads(manifest_path.read_text()), catalog)


def render(models: list[ModelCoverage]) -> str:
    """The coverage page: totals, then one row per model with links into the dbt docs."""
    columns = sum(m.columns for m in models)
    documented = sum(m.documented for m in models)
    return render_page(
        "coverage.html",
        "Coverage",
        models=models,
        columns=columns,
        documented=documented,
        share=f"{100 * documented / columns:.0f}%" if columns else "—",
        untested=[m.name for m in models if m.data_tests == 0],
        undescribed=[m.name for m in models if not m.has_description],
    )
