"""The ``caspian-ais simulate`` subcommand.

``caspian-ais simulate --vessels N --days D --start DATE --seed S --out PATH
[--format parquet|marinecadastre|dma|nmea] [--thin-s SECONDS] [--workers K] [--set NAME=VALUE]``

writes ``PATH/ais/`` (rows) and ``PATH/truth_*.csv`` (ground truth); see
:func:`caspian_ais.synthetic.write_scenario`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return name.strip(), parsed


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``simulate`` subcommand on a ``caspian-ais`` subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``ArgumentParser.add_subparsers()``.
    """
    from caspian_ais.synthetic.scenario import FORMATS

    p = subparsers.add_parser(
        "simulate",
        help="simulate Caspian AIS traffic with ground truth",
        description="Simulate Caspian AIS traffic (seeded) and write the rows in a format "
        "read_ais reads, with truth_*.csv tables of every labelled behaviour, dark spell "
        "and natural gap. "
        "See docs/simulator.md.",
    )
    p.add_argument("--vessels", type=int, default=60, help="number of vessels (default 60)")
    p.add_argument(
        "--days", type=float, default=30, help="length of the period in days (default 30)"
    )
    p.add_argument("--start", default="2022-08-15", help="first instant, UTC (default 2022-08-15)")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0); same seed, same output"
    )
    p.add_argument(
        "--out", required=True, type=Path, help="output directory (created; its ais/ is replaced)"
    )
    p.add_argument(
        "--format",
        default="parquet",
        choices=FORMATS,
        help="row format (default parquet; the others write one file per day; nmea is slow: "
        "about 30,000 reports a second)",
    )
    p.add_argument(
        "--thin-s",
        type=int,
        default=None,
        help="keep one report per vessel per this many seconds (default 60)",
    )
    p.add_argument(
        "--single-file",
        default=None,
        metavar="NAME",
        help="parquet only: write all rows to one compact file OUT/NAME instead of OUT/ais/ parts",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: CPUs, at most 8)"
    )
    p.add_argument(
        "--set",
        dest="params",
        action="append",
        type=_param,
        default=[],
        metavar="NAME=VALUE",
        help="any SimulationParams field, e.g. --set sat_passes_per_day=12 (repeatable)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``caspian-ais simulate``; returns the exit code."""
    from caspian_ais.exceptions import CaspianAISError
    from caspian_ais.synthetic.scenario import write_scenario

    params = dict(args.params)
    if args.thin_s is not None:
        params["thin_s"] = args.thin_s
    try:
        info = write_scenario(
            args.out,
            n_vessels=args.vessels,
            days=args.days,
            start=args.start,
            seed=args.seed,
            format=args.format,
            workers=args.workers,
            progress=not args.quiet,
            single_file=args.single_file,
            **params,
        )
    except (TypeError, ValueError) as exc:
        raise CaspianAISError(f"simulate: {exc}") from exc
    if not args.quiet:
        events = ", ".join(f"{k} {v}" for k, v in info["events"].items())
        where = args.out / args.single_file if args.single_file else args.out / "ais"
        print(
            f"caspian-ais simulate: {info['rows']:,} rows ({args.format}) in {where}; "
            f"truth in {args.out}/truth_*.csv\n  events: {events}\n"
            f"  dark spells: {info['dark_spells']}, "
            f"natural gaps >= {info['params']['reception_gap_min_h']} h: {info['reception_gaps']}",
            file=sys.stdout,
        )
    return 0
