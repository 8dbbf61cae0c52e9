"""The cross-engine equality check finds a differing row, and calls tables equal only when they are."""

from __future__ import annotations

import duckdb
import pytest

from lifecycle.transform.equality import compare


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "create table duck as select * from (values"
        " (1, 'a', 10.50::decimal(18,2), 0.1 + 0.2, timestamp '2026-01-01 10:00:00', true),"
        " (2, 'b', 20.00::decimal(18,2), 1.0 / 3, timestamp '2026-01-02 11:30:00.123456', false),"
        " (3, null, null, null, null, null)"
        ") as t(order_id, status, amount, share, placed_at, is_paid)"
    )
    # The same values as another engine types them: wider integers and decimals, floats summed in
    # another order, rows in another order.
    con.execute(
        "create table spark as select order_id::bigint as order_id, status,"
        " amount::decimal(38,4) as amount, case when share is not null then share + 1e-17 end as share,"
        " placed_at, is_paid from duck order by order_id desc"
    )
    return con


def test_same_values_in_other_types_and_order_are_equal(con: duckdb.DuckDBPyConnection) -> None:
    result = compare(con, "orders", "duck", "spark")
    assert result.equal, result.report()
    assert result.left_rows == result.right_rows == 3


def test_a_differing_value_is_found_and_its_row_reported(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("update spark set amount = 20.01 where order_id = 2")
    result = compare(con, "orders", "duck", "spark")
    assert not result.equal
    assert result.differing_columns == ["amount"]
    assert [row[0] for row in result.only_left] == ["2"]
    assert [row[0] for row in result.only_right] == ["2"]
    report = result.report("duckdb", "spark")
    assert "DIFFERENT" in report and "20.010000000" in report


def test_a_missing_row_a_duplicate_and_a_null_are_differences(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("delete from spark where order_id = 3")
    con.execute("insert into spark select * from spark where order_id = 1")
    result = compare(con, "orders", "duck", "spark")
    assert not result.equal
    assert [row[0] for row in result.only_left] == ["3"]
    assert [row[0] for row in result.only_right] == ["1"]


def test_a_column_on_one_side_only_is_a_difference(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("alter table spark drop column is_paid")
    result = compare(con, "orders", "duck", "spark")
    assert not result.equal
    assert result.missing_columns == ["is_paid"]
