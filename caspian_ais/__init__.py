"""caspian_ais: offline analysis of AIS vessel-tracking data.

Load AIS from the formats people have, clean it with a ledger of every dropped row,
detect transmission gaps and probable dark port calls, and report them.

The pipeline, one verb per step::

    raw = read_ais("AIS_2022_09_*.zip")          # io
    tracks, rejected = clean(raw)                 # clean
    gaps = detect_gaps(tracks, min_gap="6h")      # detect
    calls = detect_port_calls(tracks)
    dark = detect_dark_port_calls(gaps, tracks)
    trips = detect_round_trips(gaps, calls)
    write_report(analyze("data/sample/caspian_sample.parquet"), "out/")   # report

Importing the package loads neither matplotlib, movingpandas, pyais nor any
optional engine (DuckDB, Dask); they are imported when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from caspian_ais._show_versions import show_versions
from caspian_ais.cleaning import CleanResult, clean
from caspian_ais.dark_port_calls import detect_dark_port_calls
from caspian_ais.encounters import detect_encounters
from caspian_ais.exceptions import (
    CaspianAISError,
    FormatDetectionError,
    InputError,
    MissingColumnError,
    SchemaError,
    SourceNotFoundError,
    UnreadableFileError,
)
from caspian_ais.gaps import detect_gaps
from caspian_ais.identity import detect_identity_anomalies
from caspian_ais.io import read_ais
from caspian_ais.io.writers import write_ais
from caspian_ais.loitering import detect_loitering
from caspian_ais.pipeline import Analysis, analyze
from caspian_ais.port_calls import detect_port_calls
from caspian_ais.ports import load_ports
from caspian_ais.reception import build_reception_model
from caspian_ais.rendezvous import detect_dark_rendezvous
from caspian_ais.report import (
    gap_density_figure,
    map_figure,
    monthly_gaps_figure,
    monthly_summary,
    port_table,
    vessel_timeline_figure,
    watch_list,
    write_report,
)
from caspian_ais.round_trips import detect_round_trips
from caspian_ais.trajectories import to_trajectories

__all__ = [
    "__version__",
    # io
    "read_ais",
    "write_ais",
    # clean
    "clean",
    "CleanResult",
    # detect
    "detect_gaps",
    "build_reception_model",
    "load_ports",
    "detect_port_calls",
    "detect_dark_port_calls",
    "detect_round_trips",
    "detect_encounters",
    "detect_loitering",
    "detect_dark_rendezvous",
    "detect_identity_anomalies",
    # pipeline and report
    "analyze",
    "Analysis",
    "monthly_summary",
    "watch_list",
    "port_table",
    "map_figure",
    "monthly_gaps_figure",
    "vessel_timeline_figure",
    "gap_density_figure",
    "write_report",
    "to_trajectories",
    # errors and diagnostics
    "CaspianAISError",
    "InputError",
    "SourceNotFoundError",
    "UnreadableFileError",
    "FormatDetectionError",
    "MissingColumnError",
    "SchemaError",
    "show_versions",
]
