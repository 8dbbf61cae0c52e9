"""The pull-request check as Markdown, fit to paste as a PR comment (a pure function of the check)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from lifecycle.ci.diff import EXAMPLES, MartDiff

if TYPE_CHECKING:
    from lifecycle.ci.pr import PullRequestCheck

_OUTPUT_LINES = 40


def render(check: PullRequestCheck) -> str:
    verdict = "✅ passed" if check.passed else "❌ failed"
    lines = [
        f"## Pull-request check: {verdict}",
        "",
        f"Compared with production: {check.production}, as of {check.as_of:%Y-%m-%d %H:%M}.",
        "",
    ]
    if check.problems:
        lines += ["**Fails because:**", "", *(f"- {p}" for p in check.problems), ""]
    lines += ["| step | result |", "|---|---|"]
    lines.append(f"| pre-commit | {check.pre_commit.status}: {_cell(check.pre_commit.detail)} |")
    lines.append(f"| dbt build `state:modified+` | {_cell(_build_summary(check))} |")
    quality = check.quality.summary() if check.quality is not None else "no mart rebuilt, nothing to check"
    lines.append(f"| Great Expectations (rebuilt marts) | {_cell(quality)} |")
    lines.append(f"| contracts | {len(check.breaking)} breaking change(s) |")
    differing = sum(d.has_differences for d in check.diffs)
    lines.append(f"| data diff | {len(check.diffs)} mart(s) compared, {differing} with differences |")
    lines.append("")

    models = [r.name for r in check.built if r.resource_type in {"model", "seed", "snapshot"}]
    if models:
        lines += [f"Built in the PR database: {', '.join(f'`{m}`' for m in models)}.", ""]
    if check.pre_commit.failed:
        tail = check.pre_commit.output.strip().splitlines()[-_OUTPUT_LINES:]
        lines += ["<details><summary>pre-commit output</summary>", "", "```", *tail, "```", "</details>", ""]
    if check.dbt_failures:
        lines += ["### dbt failures", "", "| node | status | message |", "|---|---|---|"]
        lines += [f"| `{r.name}` | {r.status} | {_cell(r.message)} |" for r in check.dbt_failures]
        lines.append("")
    if check.quality is not None and (check.quality.failed_critical or check.quality.warned):
        lines += [
            "### Great Expectations",
            "",
            "| severity | suite | expectation | rule | observed |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {o.severity} | {o.suite} | {_cell(o.label)} | {_cell(o.rule)} | {_cell(o.observed)} |"
            for o in check.quality.failed_critical + check.quality.warned
        ]
        lines.append("")
    if check.breaking:
        lines += ["### Breaking changes", "", *(f"- {b}" for b in check.breaking), ""]
    if check.diffs:
        lines += ["### Data diff against production", ""]
        same = [d for d in check.diffs if not d.has_differences]
        if same:
            names = ", ".join(f"`{d.schema}.{d.name}` ({d.pr_rows} rows)" for d in same)
            lines += [f"Identical to production: {names}.", ""]
        for diff in check.diffs:
            if diff.has_differences:
                lines += _mart(diff)
    return "\n".join(lines).rstrip() + "\n"


def _build_summary(check: PullRequestCheck) -> str:
    if check.dbt_error:
        return check.dbt_error
    if not check.built:
        return "nothing modified: no node selected"
    kinds = Counter(r.resource_type.replace("_", " ") for r in check.built)
    # "success" (a model built) and "pass" (a test held) are the good outcomes; name every other one.
    statuses = Counter("ok" if r.status in {"success", "pass"} else r.status for r in check.built)
    return (
        ", ".join(f"{n} {kind}(s)" for kind, n in kinds.items())
        + ": "
        + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    )


def _mart(diff: MartDiff) -> list[str]:
    title = f"#### `{diff.schema}.{diff.name}`"
    if diff.is_new:
        return [title, "", f"New mart: {diff.pr_rows} rows, nothing in production to compare with.", ""]
    key = ", ".join(f"`{c}`" for c in diff.primary_key)
    lines = [
        title + (f" (key {key})" if key else " (no primary key)"),
        "",
        "| | production | PR |",
        "|---|---:|---:|",
        f"| rows | {diff.production_rows} | {diff.pr_rows} |",
        "",
    ]
    if diff.schema_changes:
        lines += ["Schema: " + "; ".join(c.describe() for c in diff.schema_changes) + ".", ""]
    if not diff.primary_key:
        lines += [
            "No primary key (a column with unique and not_null tests): rows compared whole, "
            f"{diff.added} added, {diff.removed} removed.",
            "",
        ]
        return lines
    unchanged = (diff.production_rows or 0) - diff.removed - diff.changed
    lines.append(
        f"Rows by key: {diff.added} added, {diff.removed} removed, {diff.changed} changed, "
        f"{unchanged} unchanged."
    )
    if diff.added_examples:
        lines.append(f"Added keys (up to {EXAMPLES}): {', '.join(diff.added_examples)}.")
    if diff.removed_examples:
        lines.append(f"Removed keys (up to {EXAMPLES}): {', '.join(diff.removed_examples)}.")
    lines.append("")
    if diff.columns:
        lines += ["| column | changed values | examples (key: production → PR) |", "|---|---:|---|"]
        for column in diff.columns:
            examples = "; ".join(f"{k}: {b} → {a}" for k, b, a in column.examples)
            lines.append(f"| `{column.column}` | {column.changed} | {_cell(examples)} |")
        lines.append("")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
