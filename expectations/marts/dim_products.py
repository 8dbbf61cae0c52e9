"""Checks on marts.dim_products: the catalogue's current products, the product side of order lines.

Identifiers and the price are what product analysis joins and sums on; names and timestamps are reported.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from lifecycle.quality.suites import SuiteContext, meta, runbook

CATALOGUE = runbook(
    means="the catalogue delivered a product without what every product has, so product reports show "
    "it blank or unpriced.",
    look="the product in stg_app__products and its changes in raw.app_products.",
    fix="have the application fix the product and rerun; a staging cast that loses the value is fixed there.",
)


def build_suites(ctx: SuiteContext) -> list[gx.ExpectationSuite]:
    return [
        gx.ExpectationSuite(
            name=ctx.suite_name("accuracy"),
            expectations=[
                gxe.ExpectColumnValuesToBeUnique(
                    column="sku",
                    meta=meta(
                        rule="A stock-keeping unit code names one product",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="two products share a SKU, so stock and sales by SKU mix them.",
                            look="the products with that sku in stg_app__products.",
                            fix="nothing is blocked; the shop renames one SKU.",
                        ),
                    ),
                ),
                gxe.UnexpectedRowsExpectation(
                    description="created_at <= updated_at",
                    unexpected_rows_query="""
                        select product_id, created_at, updated_at
                        from {batch}
                        where updated_at < created_at
                    """,
                    meta=meta(
                        rule="A product's last change is not before it was added",
                        dimension="accuracy",
                        severity="warning",
                        runbook=runbook(
                            means="the catalogue's timestamps contradict each other (a clock or time-zone "
                            "error in the application).",
                            look="the product's changes in raw.app_products.",
                            fix="nothing is blocked; report it to the shop.",
                        ),
                    ),
                ),
            ],
        ),
        gx.ExpectationSuite(
            name=ctx.suite_name("completeness"),
            expectations=[
                gxe.ExpectColumnValuesToNotBeNull(
                    column="current_price",
                    meta=meta(
                        rule="Every product has a list price",
                        dimension="completeness",
                        severity="critical",
                        runbook=CATALOGUE,
                    ),
                ),
                *(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column,
                        meta=meta(
                            rule=f"Every product has its {column}",
                            dimension="completeness",
                            severity="warning",
                            runbook=CATALOGUE,
                        ),
                    )
                    for column in ("sku", "product_name", "is_active")
                ),
            ],
        ),
    ]
