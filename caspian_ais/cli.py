"""The ``caspian-ais`` command line.

Subcommands
-----------
``analyze INPUT... --out DIR``
    Read, clean and analyse AIS files; write result tables into DIR.
``simulate ...``
    Generate a synthetic Caspian scenario with ground truth (see ``docs/simulator.md``).
``versions``
    Print the versions of caspian_ais and its dependencies.

Exit codes: 0 success, 2 bad input or usage (one line on stderr naming the file and
what was expected), 1 unexpected internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from caspian_ais import __version__
from caspian_ais.exceptions import CaspianAISError

__all__ = ["main", "build_parser", "parse_duration"]


def parse_duration(text: str) -> pd.Timedelta:
    """Parse a duration such as ``6h``, ``90min``, ``1d`` or a bare number of hours."""
    try:
        hours = float(text)
    except ValueError:
        pass
    else:
        return pd.Timedelta(hours=hours)
    try:
        td = pd.Timedelta(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use e.g. 6h, 90min, 1d"
        ) from exc
    if td <= pd.Timedelta(0):
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return td


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="caspian-ais",
        description="Offline analysis of AIS vessel-tracking data: gaps, dark port calls, reports.",
    )
    parser.add_argument("--version", action="version", version=f"caspian_ais {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    a = sub.add_parser(
        "analyze",
        help="analyse AIS files and write result tables",
        description="Read, clean and analyse AIS files; write result tables into --out.",
    )
    a.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, globs (quote them) or directories of AIS data",
    )
    a.add_argument("--out", required=True, type=Path, help="output directory (created if needed)")
    a.add_argument(
        "--format",
        default=None,
        choices=[
            "marinecadastre",
            "marinecadastre2025",
            "dma",
            "nmea",
            "csv",
            "parquet",
            "geoparquet",
        ],
        help="force the input format (default: detect from each file)",
    )
    a.add_argument(
        "--min-gap",
        default=pd.Timedelta(hours=6),
        type=parse_duration,
        help="shortest silence reported as a gap (default 6h; GFW's gap-event threshold)",
    )
    a.add_argument(
        "--max-speed-kn",
        default=50.0,
        type=float,
        help="reject position jumps implying more than this speed in knots (default 50)",
    )
    a.add_argument(
        "--ports",
        default=None,
        type=Path,
        help="port gazetteer CSV or GeoJSON (default: the bundled Caspian ports)",
    )
    a.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="skip report.html, the summary tables and the figures",
    )
    a.add_argument(
        "--option",
        "-O",
        action="append",
        default=[],
        metavar="STEP.NAME=VALUE",
        help="set a detector threshold, e.g. -O gaps.window_h=12 -O dark_port_calls.min_stay_h=4 "
        "(steps: gaps, port_calls, dark_port_calls, round_trips; see docs/detection.md)",
    )
    a.add_argument(
        "--columns",
        default=None,
        help='JSON mapping of source to canonical column names, e.g. \'{"ts": "timestamp"}\'',
    )
    prog = a.add_mutually_exclusive_group()
    prog.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show progress bars",
    )
    prog.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show progress bars (default: only on a terminal)",
    )
    a.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    s = a.add_argument_group(
        "scale", "out-of-core and distributed runs (docs/performance.md, docs/distributed.md)"
    )
    s.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "memory", "batch", "dask"],
        help="memory: load everything; batch: stream the input and partition it by vessel on "
        "disk (input larger than memory); dask: the batch stages on a Dask cluster; auto "
        "(default): dask with --workers/--scheduler, batch when the input would not fit in "
        "--memory-limit, else memory",
    )
    s.add_argument(
        "--memory-limit",
        default=None,
        metavar="SIZE",
        help="memory the run may use, e.g. 4GB or 512MiB (per worker with --scheduler); "
        "bounds the peak of batch runs (default: half the RAM)",
    )
    s.add_argument(
        "--workdir",
        default=None,
        type=Path,
        help="work directory of batch/dask runs (default OUT/.caspian_work); rerun with the "
        "same one to resume an interrupted run",
    )
    s.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the work directory (the partitioned cleaned tracks) after success",
    )
    s.add_argument(
        "--partitions",
        type=int,
        default=None,
        metavar="N",
        help="number of vessel partitions (default: from the input size and memory limit)",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run on a local Dask cluster of N worker processes",
    )
    s.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler (tcp://host:8786, or a scheduler "
        "file); the workdir must be on storage that every worker sees",
    )
    a.set_defaults(func=_cmd_analyze)

    v = sub.add_parser("versions", help="print versions of caspian_ais and its dependencies")
    v.set_defaults(func=_cmd_versions)

    try:
        from caspian_ais.synthetic.cli import add_parser as add_simulate
    except ImportError:  # pragma: no cover - the simulator is part of the package
        pass
    else:
        add_simulate(sub)
    return parser


def _cmd_versions(args: argparse.Namespace) -> int:
    from caspian_ais._show_versions import show_versions

    show_versions()
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from caspian_ais.batch.malloc import tune_malloc
    from caspian_ais.export import write_outputs
    from caspian_ais.pipeline import analyze

    tune_malloc()  # large numpy temporaries: reuse freed memory (CASPIAN_AIS_TUNE_MALLOC=0: off)
    quiet = bool(args.quiet)
    progress = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    progress = progress and not quiet
    columns = None
    if args.columns:
        try:
            columns = json.loads(args.columns)
        except json.JSONDecodeError as exc:
            raise CaspianAISError(
                f'--columns: not valid JSON ({exc.msg}); expected e.g. \'{{"ts": "timestamp"}}\''
            ) from exc
        if not isinstance(columns, dict):
            raise CaspianAISError(
                "--columns: expected a JSON object mapping source to canonical names"
            )
    options = _parse_options(args.option)
    t0 = time.perf_counter()

    def stage(msg: str) -> None:
        # stage messages accompany the progress bars: on a terminal, or with --progress
        if progress:
            print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr)

    inputs = args.inputs[0] if len(args.inputs) == 1 else list(args.inputs)
    scale: dict[str, Any] = {}
    if args.memory_limit is not None:
        from caspian_ais.batch.run import parse_memory

        try:
            scale["memory_limit"] = parse_memory(args.memory_limit)
        except ValueError as exc:
            raise CaspianAISError(f"--memory-limit: {exc}") from exc
    if args.workers is not None and args.workers < 1:
        raise CaspianAISError("--workers: expected a positive number of worker processes")
    if args.partitions is not None and args.partitions < 1:
        raise CaspianAISError("--partitions: expected a positive number of partitions")
    if args.engine != "memory":
        scale.update(
            workers=args.workers,
            scheduler=args.scheduler,
            n_partitions=args.partitions,
            workdir=args.workdir or args.out / ".caspian_work",
            keep_workdir=bool(args.keep_workdir),
        )
    result = analyze(
        inputs,
        format=args.format,
        columns=columns,
        min_gap=args.min_gap,
        max_speed_kn=args.max_speed_kn,
        ports=args.ports,
        gap_options=options["gaps"],
        port_call_options=options["port_calls"],
        dark_call_options=options["dark_port_calls"],
        round_trip_options=options["round_trips"],
        progress=progress,
        on_stage=stage,
        engine=args.engine,
        **scale,
    )
    stage(f"writing outputs to {args.out}")
    written = write_outputs(result, args.out)
    if args.report:
        from caspian_ais.report import write_report

        written += write_report(result, args.out, progress=progress, on_stage=stage)
    if not quiet:
        summary = result.summary()
        elapsed = time.perf_counter() - t0
        print(_summary_text(summary, written, args.out, elapsed))
    return 0


_STEPS = ("gaps", "port_calls", "dark_port_calls", "round_trips")


def _parse_options(items: Sequence[str]) -> dict[str, dict[str, object]]:
    """Parse ``STEP.NAME=VALUE`` detector options; values are read as JSON when they can be."""
    out: dict[str, dict[str, object]] = {step: {} for step in _STEPS}
    for item in items:
        key, sep, raw = item.partition("=")
        step, dot, name = key.partition(".")
        if not sep or not dot or step not in out or not name.isidentifier():
            raise CaspianAISError(
                f"--option {item!r}: expected STEP.NAME=VALUE with STEP one of {', '.join(_STEPS)}"
            )
        try:
            value: object = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[step][name] = value
    return out


def _summary_text(
    summary: dict[str, object], written: list[Path], out: Path, elapsed_s: float
) -> str:
    lines = ["", f"caspian-ais analyze: done in {elapsed_s:.1f} s"]
    labels = {
        "rows_read": "rows read",
        "rows_rejected": "rows rejected (see rejected_rows.csv)",
        "rows_kept": "rows kept",
        "vessels": "vessels",
        "gaps": "gaps",
        "suspicious_gaps": "suspicious gaps",
        "port_calls": "visible port calls",
        "dark_port_calls": "probable dark port calls",
        "round_trips": "dark round trips",
    }
    for key, value in summary.items():
        label = labels.get(key, key.replace("_", " "))
        lines.append(
            f"  {label:<40} {value:>12,}" if isinstance(value, int) else f"  {label:<40} {value}"
        )
    top = [p.name for p in written if p.parent == out]
    n_fig = sum(1 for p in written if p.parent != out)
    lines.append(
        f"  outputs in {out}/: " + ", ".join(top) + (f", figures/ ({n_fig} files)" if n_fig else "")
    )
    if "report.html" in top:
        lines.append(f"  open {out / 'report.html'} in a browser")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``caspian-ais`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except TypeError as exc:
        if "unexpected keyword" in str(exc) or "option" in str(exc):
            print(f"caspian-ais: error: {exc}", file=sys.stderr)
            return 2
        raise
    except CaspianAISError as exc:
        print(f"caspian-ais: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"caspian-ais: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("caspian-ais: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
