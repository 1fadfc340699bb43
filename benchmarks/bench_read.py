"""Benchmark :func:`caspian_ais.io.read_ais` on a 10-million-row MarineCadastre CSV and Parquet.

The inputs are synthesised (vectorised, with numpy/pyarrow) by repeating the real
MarineCadastre excerpt in ``tests/data`` (NOAA, public domain) and perturbing it: every
repetition gets its own MMSIs (MID kept), is shifted by one hour, and its positions,
speeds and courses are jittered. The files are written once into ``--workdir`` and
reused on later runs.

Each measurement runs in a fresh subprocess so that the peak RSS (``ru_maxrss``) of one
read does not hide another's. Figures printed: rows, wall seconds, rows per second, the
RSS after imports (baseline) and the peak RSS during the read.

Usage::

    python benchmarks/bench_read.py --workdir /tmp/caspian_bench [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
EXCERPT = ROOT / "tests" / "data" / "marinecadastre_2022-01-03_excerpt.csv"
MC_HEADER = [
    "MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading", "VesselName", "IMO",
    "CallSign", "VesselType", "Status", "Length", "Width", "Draft", "Cargo",
    "TransceiverClass",
]
_NUMERIC = {"LAT", "LON", "SOG", "COG", "Heading", "Length", "Width", "Draft"}
_INTEGER = {"MMSI", "VesselType", "Status", "Cargo"}


def _read_excerpt(path: Path) -> pa.Table:
    types = {c: pa.string() for c in MC_HEADER}
    types.update({c: pa.float64() for c in _NUMERIC})
    types.update({c: pa.int64() for c in _INTEGER})
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))


def synthesise(excerpt: pa.Table, n_rows: int, seed: int = 0) -> pa.Table:
    """Return ``n_rows`` MarineCadastre-shaped rows built from ``excerpt``, vectorised."""
    rng = np.random.default_rng(seed)
    m = excerpt.num_rows
    idx = np.arange(n_rows) % m
    rep = np.arange(n_rows) // m
    out: dict[str, pa.Array] = {}
    for name in MC_HEADER:
        out[name] = excerpt.column(name).take(pa.array(idx))
    mmsi = excerpt.column("MMSI").to_numpy(zero_copy_only=False)[idx]
    # new vessel identities per repetition, keeping the MID (first 3 digits)
    out["MMSI"] = pa.array((mmsi // 1_000_000) * 1_000_000 + (mmsi + rep * 7919) % 1_000_000)
    base = pc.strptime(excerpt.column("BaseDateTime"), format="%Y-%m-%dT%H:%M:%S", unit="s")
    secs = base.cast(pa.int64()).to_numpy(zero_copy_only=False)[idx] + rep * 3600
    out["BaseDateTime"] = pa.array(np.datetime_as_string(secs.astype("datetime64[s]"),
                                                          unit="s"))
    for name, scale, lo, hi in (("LAT", 1e-3, -90, 90), ("LON", 1e-3, -180, 180),
                                ("SOG", 0.1, 0, 102.2), ("COG", 0.5, 0, 359.9)):
        v = excerpt.column(name).to_numpy(zero_copy_only=False)[idx]
        jitter = rng.normal(0.0, scale, n_rows)
        out[name] = pa.array(np.round(np.clip(v + jitter, lo, hi), 5), from_pandas=True)
    return pa.table(out)


def _canonical_for_parquet(mc: pa.Table) -> pa.Table:
    ts = pc.assume_timezone(pc.strptime(mc.column("BaseDateTime"), format="%Y-%m-%dT%H:%M:%S",
                                        unit="ns"), "UTC")
    imo = pc.utf8_slice_codeunits(mc.column("IMO"), 3)
    return pa.table({
        "mmsi": mc.column("MMSI"),
        "timestamp": ts,
        "lat": mc.column("LAT"),
        "lon": mc.column("LON"),
        "sog_kn": mc.column("SOG"),
        "cog_deg": mc.column("COG"),
        "heading_deg": mc.column("Heading"),
        "nav_status": mc.column("Status").cast(pa.int16()),
        "imo": pc.cast(pc.if_else(pc.equal(imo, ""), None, imo), pa.int64()),
        "name": mc.column("VesselName"),
        "callsign": mc.column("CallSign"),
        "ship_type": mc.column("VesselType").cast(pa.int16()),
        "length_m": mc.column("Length"),
        "draught_m": mc.column("Draft"),
        "ais_class": mc.column("TransceiverClass"),
    })


def make_inputs(workdir: Path, n_rows: int, excerpt: Path) -> tuple[Path, Path]:
    """Write (or reuse) the benchmark CSV and Parquet files."""
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path = workdir / f"mc_{n_rows}.csv"
    pq_path = workdir / f"canonical_{n_rows}.parquet"
    if csv_path.exists() and pq_path.exists():
        return csv_path, pq_path
    t0 = time.perf_counter()
    table = synthesise(_read_excerpt(excerpt), n_rows)
    if not csv_path.exists():
        tmp = csv_path.with_suffix(".tmp")
        pacsv.write_csv(table, tmp, write_options=pacsv.WriteOptions(quoting_style="needed"))
        tmp.replace(csv_path)
    if not pq_path.exists():
        tmp = pq_path.with_suffix(".tmp")
        pq.write_table(_canonical_for_parquet(table), tmp, row_group_size=1_000_000)
        tmp.replace(pq_path)
    print(f"generated inputs in {time.perf_counter() - t0:.1f} s", flush=True)
    return csv_path, pq_path


_CHILD = r"""
import json, resource, sys, time


def hwm_mib():
    # peak RSS of this process since the last reset (Linux), else ru_maxrss
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


from caspian_ais.io import canonical, read_ais

spent = [0.0]


def timed(method):
    # how much of read_ais is writing the canonical table (CanonicalBuilder, shared
    # by every tabular loader); the rest is reading and parsing the file
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        out = method(*args, **kwargs)
        spent[0] += time.perf_counter() - t
        return out
    return wrapper


canonical.CanonicalBuilder.append = timed(canonical.CanonicalBuilder.append)
canonical.CanonicalBuilder.finish = timed(canonical.CanonicalBuilder.finish)
path = sys.argv[1]
reset_hwm()
base = hwm_mib()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
table = read_ais(path)
dt = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
peak = hwm_mib()
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(json.dumps({"rows": len(table), "seconds": dt, "cpu_seconds": cpu, "baseline_mib": base,
                  "peak_mib": peak, "table_mib": table.memory_usage(deep=True).sum() / 2**20,
                  "canonical_seconds": spent[0]}))
"""


def measure(path: Path) -> dict[str, float]:
    """Read ``path`` with read_ais in a fresh interpreter; return its figures."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True,
                         capture_output=True, text=True)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    """Generate the inputs if needed, time read_ais on each, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=None,
                    help="directory for the generated files (reused if present)")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--excerpt", type=Path, default=EXCERPT,
                    help="MarineCadastre CSV to synthesise from")
    ap.add_argument("--repeat", type=int, default=1, help="measurements per file (best kept)")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="caspian_bench_"))
    if args.generate_only:
        make_inputs(workdir, args.rows, args.excerpt)
        return 0
    # generate in a child process: the parent stays small, so that the measuring
    # children do not inherit a large resident set
    subprocess.run([sys.executable, __file__, "--generate-only", "--workdir", str(workdir),
                    "--rows", str(args.rows), "--excerpt", str(args.excerpt)], check=True)
    csv_path, pq_path = make_inputs(workdir, args.rows, args.excerpt)
    print(f"cpus: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}  workdir: {workdir}")
    for label, path in (("MarineCadastre CSV", csv_path), ("Parquet", pq_path)):
        runs = [measure(path) for _ in range(max(1, args.repeat))]
        best = min(runs, key=lambda r: r["seconds"])
        size_mib = path.stat().st_size / 2**20
        print(f"{label}: {best['rows']:,d} rows, {size_mib:.0f} MiB on disk\n"
              f"    {best['seconds']:.2f} s wall ({best['canonical_seconds']:.2f} s of it "
              f"writing the canonical table), {best['cpu_seconds']:.1f} s cpu, "
              f"{best['rows'] / best['seconds'] / 1e6:.2f} M rows/s\n"
              f"    peak RSS {best['peak_mib']:.0f} MiB (baseline after imports "
              f"{best['baseline_mib']:.0f} MiB; result table {best['table_mib']:.0f} MiB)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
