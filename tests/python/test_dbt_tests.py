"""dbt test results become quality outcomes (suite, layer, dimension, severity) for the quality history."""

from __future__ import annotations

from lifecycle.quality.dbt_tests import dbt_test_outcomes as outcomes_of

MANIFEST = {
    "nodes": {
        "model.lifecycle.fct_orders": {"resource_type": "model", "name": "fct_orders", "schema": "marts"},
        "test.lifecycle.not_null_fct_orders_order_id.1": {
            "resource_type": "test",
            "name": "not_null_fct_orders_order_id",
            "attached_node": "model.lifecycle.fct_orders",
            "column_name": "order_id",
            "test_metadata": {"name": "not_null"},
            "config": {"severity": "ERROR", "meta": {"owner": "analytics", "runbook": "look"}},
        },
        "test.lifecycle.assert_prices": {
            "resource_type": "test",
            "name": "assert_prices",
            "description": "Prices match the catalogue.",
            "config": {"severity": "warn", "meta": {"dimension": "accuracy"}},
        },
        "unit_test.lifecycle.fct_orders.u": {"resource_type": "unit_test", "name": "u"},
    }
}


def test_each_data_test_becomes_an_outcome_with_its_layer_dimension_and_severity():
    results = {
        "results": [
            {"unique_id": "test.lifecycle.not_null_fct_orders_order_id.1", "status": "pass", "failures": 0},
            {"unique_id": "test.lifecycle.assert_prices", "status": "warn", "failures": 3},
            {"unique_id": "unit_test.lifecycle.fct_orders.u", "status": "pass"},
            {"unique_id": "model.lifecycle.fct_orders", "status": "success"},
        ]
    }
    first, second = outcomes_of(MANIFEST, results)
    assert (first.suite, first.layer, first.dimension, first.severity, first.status) == (
        "dbt.marts.fct_orders",
        "marts",
        "completeness",
        "critical",
        "passed",
    )
    assert (first.owner, first.runbook, first.column) == ("analytics", "look", "order_id")
    assert (second.suite, second.severity, second.status, second.observed) == (
        "dbt.tests.assert_prices",
        "warning",
        "failed",
        "3 failing row(s)",
    )
    assert second.rule == "Prices match the catalogue."
