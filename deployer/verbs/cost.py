"""`python deploy.py ENV cost [--json]`: the monthly estimate, printed, with no AWS call.

The model (what the templates create, at which unit prices, under which usage assumptions) is
deployer/engine/pricing.py; this verb prints its ``Estimate``: ``render_table(estimate)`` and
``to_json(estimate)`` on stdout, the warnings on stderr as well, where a script piping the JSON still sees them.
"""

from __future__ import annotations

import argparse
import json
import sys

from deployer.engine import pricing
from deployer.engine.pricing import PRICES_FILE, STALE_AFTER_DAYS, Estimate
from deployer.errors import EXIT_OK
from deployer.verbs.verb import Verb

# -- output ------------------------------------------------------------------------------------------------


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _quantity(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def render_table(est: Estimate) -> list[str]:
    """The estimate as text lines: per stack its line items and subtotal, the total, assumptions, warnings."""
    rows = [("stack", "item", "quantity", "unit", "unit price", "monthly")]
    for stack, lines in est.by_stack().items():
        for line in lines:
            rows.append((stack, line.item, _quantity(line.quantity), line.unit, f"${line.unit_price:g}",
                         _money(line.monthly)))
        rows.append((stack, "subtotal", "", "", "", _money(sum(line.monthly for line in lines))))
    rows.append(("total", "", "", "", "", _money(est.total)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 4, 5}
    out = [
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in
                  enumerate(zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]
    out.append(f"monthly estimate for {est.env} in {est.region}: {_money(est.total)} "
               f"(prices for {est.prices_region}, read {est.prices_read})")
    out.append("assumptions: " + ", ".join(f"{k}={_quantity(v) if isinstance(v, float) else v}"
                                           for k, v in est.assumptions.items()))
    out.extend(f"warning: {w}" for w in est.warnings)
    return out


def to_json(est: Estimate) -> dict:
    """The estimate for scripts: `deploy.py prod cost --json | jq .total`."""
    return {
        "env": est.env,
        "region": est.region,
        "currency": "USD",
        "prices": {"region": est.prices_region, "read": est.prices_read, "file": PRICES_FILE.name},
        "stacks": {
            stack: {
                "lines": [
                    {"item": line.item, "quantity": round(line.quantity, 4), "unit": line.unit,
                     "unit_price": line.unit_price, "monthly": round(line.monthly, 4), "seed_row": line.seed_row}
                    for line in lines
                ],
                "subtotal": round(sum(line.monthly for line in lines), 4),
            }
            for stack, lines in est.by_stack().items()
        },
        "total": round(est.total, 2),
        "assumptions": est.assumptions,
        "warnings": list(est.warnings),
    }


# ---- the verb ----

def cost_cmd(ctx, args) -> int:
    est = pricing.estimate(ctx.params)
    if args.json:
        ctx.out.line(json.dumps(to_json(est), indent=2, sort_keys=True))
    else:
        ctx.out.block([line for line in render_table(est) if not line.startswith("warning: ")])
    for warning in est.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _cost_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the estimate as JSON (for scripts)")


COST = Verb("cost", cost_cmd, "estimate the stacks' monthly cost from the params, with no AWS call",
            ("python deploy.py prod cost", "python deploy.py prod cost -p nat_gateways=0",
             "python deploy.py prod cost --json | jq .total"),
            _cost_options, calls_aws=False,
            notes=f"Per stack and line item, the total, and the usage it assumes. Unit prices: deployer/engine/"
                  f"{PRICES_FILE.name} (region, source, date read; a warning once over {STALE_AFTER_DAYS} days old).")

