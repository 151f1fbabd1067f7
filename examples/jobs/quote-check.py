#!/usr/bin/env python3
"""Checks the spread of each pair named on the command line against a limit (in bps).

Runs as a Slipway job: `slipway run --image tools:fx --script examples/jobs/quote-check.py ...`.
Exits 1 when a pair is unknown or its spread is over the limit, so `slipway run --each` shows
which hosts disagree.
"""
import os
import sys

import fxcalc

LIMIT_BPS = float(os.environ.get("SPREAD_LIMIT_BPS", "2"))

failed = False
for pair in sys.argv[1:] or ["EURUSD"]:
    quote = fxcalc.QUOTES.get(pair)
    if quote is None:
        print(f"{pair}: unknown pair", file=sys.stderr)
        failed = True
        continue
    bps = fxcalc.spread_bps(*quote)
    verdict = "ok" if bps <= LIMIT_BPS else f"over {LIMIT_BPS} bps"
    failed = failed or bps > LIMIT_BPS
    print(f"{pair} mid {fxcalc.mid(*quote):.5f} spread {bps:.2f} bps {verdict} "
          f"(fxcalc {fxcalc.__version__}, on {os.environ.get('SLIPWAY_HOST', '?')})")
sys.exit(1 if failed else 0)
