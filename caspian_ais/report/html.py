"""The self-contained HTML report of ``caspian-ais analyze`` and the files beside it.

:func:`write_report` writes, into the output directory:

* ``monthly_summary.csv`` (by flag state), ``monthly_by_ship_type.csv``,
  ``monthly_by_port.csv``, ``watch_list.csv`` and ``port_table.csv``
  (see :mod:`caspian_ais.report.tables`);
* every figure as PNG and SVG in ``figures/`` (see :mod:`caspian_ais.report.figures`);
* ``report.html``: one file with the figures embedded as ``data:`` URIs, the tables,
  the parameters, the input files and the rejected rows by reason. It loads nothing
  from the network (no external CSS, script, font or image) and opens in any browser.

matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from caspian_ais.report import style
from caspian_ais.report.tables import _flags, default_ports, monthly_summary, port_table, watch_list

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from caspian_ais.pipeline import Analysis

__all__ = ["ReportFigure", "report_tables", "report_figures", "render_html", "write_report"]

#: Vessels of the watch list that get a timeline figure in the report.
DEFAULT_TIMELINES = 3
#: Rows of the watch list shown in the HTML page (the CSV has them all).
HTML_WATCH_ROWS = 25
_DPI = 130


@dataclass
class ReportFigure:
    """A figure of the report, with what the page says about it.

    Attributes
    ----------
    name : str
        File stem (``figures/<name>.png``).
    title : str
        Heading in the page.
    caption : str
        How to read it.
    figure : matplotlib.figure.Figure
        The figure.
    """

    name: str
    title: str
    caption: str
    figure: Figure


# ---------------------------------------------------------------------------------------
# gathering
# ---------------------------------------------------------------------------------------


def _table(analysis: Any, name: str) -> pd.DataFrame | None:
    tables = getattr(analysis, "tables", None) or {}
    t = tables.get(name)
    return t if isinstance(t, pd.DataFrame) else None


def _min_gap_text(analysis: Any) -> str | None:
    params = getattr(analysis, "parameters", None) or {}
    v = params.get("min_gap")
    if v is None:
        return None
    try:
        td = pd.Timedelta(v) if not isinstance(v, (int, float)) else pd.Timedelta(hours=float(v))
    except (ValueError, TypeError):
        return str(v)
    hours = td / pd.Timedelta(hours=1)
    return f"{hours:g} h" if hours >= 1 else f"{td / pd.Timedelta(minutes=1):g} min"


def _with_vessel_columns(gaps: pd.DataFrame, tracks: Any) -> pd.DataFrame:
    """``gaps`` with ``ship_type`` taken from the tracks (most frequent per vessel) when
    the gap table lacks it, so that the monthly table by ship type has types."""
    if "ship_type" in gaps.columns or tracks is None or not len(gaps):
        return gaps
    from caspian_ais.report.tables import _per_vessel_first
    from caspian_ais.trajectories import as_tracks

    t = as_tracks(tracks)
    if "ship_type" not in t.columns:
        return gaps
    sub = t.loc[t["mmsi"].isin(gaps["mmsi"].unique()), ["mmsi", "ship_type"]]
    types = _per_vessel_first(sub, "ship_type")
    if not len(types):
        return gaps
    out = gaps.copy()
    out["ship_type"] = pd.to_numeric(out["mmsi"].map(types), errors="coerce").astype("Int16")
    return out


def report_tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """The summary tables of an analysis, by file stem.

    Parameters
    ----------
    analysis : caspian_ais.pipeline.Analysis
        What :func:`caspian_ais.analyze` returned.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``monthly_summary`` (by flag state), ``monthly_by_ship_type`` (by ship
        category), ``monthly_by_port``, ``watch_list`` and ``port_table``.

    Examples
    --------
    >>> from caspian_ais.report import report_tables
    >>> tables = report_tables(result)            # doctest: +SKIP
    >>> tables["watch_list"].head()               # doctest: +SKIP
    """
    gaps = _with_vessel_columns(analysis.gaps, analysis.tracks)
    dark = _table(analysis, "dark_port_calls")
    visible = _table(analysis, "port_calls")
    ports = default_ports()
    return {
        "monthly_summary": monthly_summary(gaps, dark, by=("flag_state",)),
        "monthly_by_ship_type": monthly_summary(gaps, dark, by=("ship_category",)),
        "monthly_by_port": monthly_summary(gaps, dark, by=("port",), ports=ports),
        "watch_list": watch_list(gaps, dark, tracks=analysis.tracks),
        "port_table": port_table(visible, dark, ports=ports),
    }


def _timeline_vessels(wl: pd.DataFrame, n: int) -> list[int]:
    if n <= 0 or not len(wl):
        return []
    score = wl["suspicious_hours_dark"].astype("Float64").fillna(wl["hours_dark"].astype("Float64"))
    keep = wl[(score.fillna(0) > 0) | (wl["dark_port_calls"] > 0)]
    return [int(m) for m in keep["mmsi"].head(n)]


def _period(tracks: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if isinstance(tracks, pd.DataFrame) and len(tracks) and "timestamp" in tracks.columns:
        return tracks["timestamp"].min(), tracks["timestamp"].max()
    return None


def report_figures(
    analysis: Analysis,
    *,
    timelines: int = DEFAULT_TIMELINES,
    watch: pd.DataFrame | None = None,
) -> Iterator[ReportFigure]:
    """Draw the figures of the report one at a time.

    Parameters
    ----------
    analysis : caspian_ais.pipeline.Analysis
        What :func:`caspian_ais.analyze` returned.
    timelines : int, default 3
        Draw a timeline for this many vessels from the top of the watch list (those
        with suspicious hours dark or dark port calls).
    watch : pandas.DataFrame, optional
        The watch list, if already computed.

    Yields
    ------
    ReportFigure
        The map, the monthly chart, the gap density map and the vessel timelines.
    """
    from caspian_ais.report.figures import (
        gap_density_figure,
        map_figure,
        monthly_gaps_figure,
        vessel_timeline_figure,
    )

    tracks, gaps = analysis.tracks, analysis.gaps
    dark = _table(analysis, "dark_port_calls")
    visible = _table(analysis, "port_calls")
    min_gap = _min_gap_text(analysis)
    has_susp = "suspicious" in gaps.columns
    thr = f"at least {min_gap}" if min_gap else "the gap threshold"
    yield ReportFigure(
        "map",
        "Map",
        "Thin lines: AIS tracks. Dashed lines: AIS gaps, from where the transponder went silent "
        "(small circle) to where it was heard again"
        + ("; vermillion when the gap is suspicious, grey when not" if has_susp else "")
        + ". Yellow stars: ports with probable dark port calls, sized by their number."
        + " Pink diamonds: encounters (two ships together at sea); blue triangles: loitering.",
        map_figure(tracks, gaps, dark_port_calls=dark,
                   encounters=_table(analysis, "encounters"),
                   loitering=_table(analysis, "loitering")),
    )
    yield ReportFigure(
        "monthly_gaps_by_flag",
        "Gaps per month by flag",
        f"Number of silences of {thr} that started in each month (UTC), by flag state"
        + (
            ": above all of them, below (on its own scale) the suspicious ones."
            if has_susp
            else "."
        ),
        monthly_gaps_figure(gaps, min_gap=min_gap, period=_period(tracks)),
    )
    if {"start_lat", "start_lon"} <= set(gaps.columns):
        only_susp = has_susp and bool(gaps["suspicious"].astype("boolean").fillna(False).any())
        yield ReportFigure(
            "gap_density",
            "Where AIS went silent",
            "Number of "
            + ("suspicious " if only_susp else "")
            + "gaps whose last position before the silence falls in each square cell (its size is "
            "in the colour bar). "
            "Clusters near a port are where ships switch off on approach.",
            gap_density_figure(gaps, suspicious_only=only_susp),
        )
    if watch is None:
        watch = watch_list(gaps, dark, tracks=tracks)
    for mmsi in _timeline_vessels(watch, timelines):
        row = watch.loc[watch["mmsi"] == mmsi].iloc[0]
        name = row["name"] if pd.notna(row["name"]) else f"MMSI {mmsi}"
        yield ReportFigure(
            f"vessel_{mmsi}",
            f"Vessel {name} (watch list #{int(row['rank'])})",
            "Top: the latitude of each AIS report over time; shaded spans are silences, dotted "
            "lines the latitudes of the ports it called at. Bottom: when AIS was on and off, "
            "visible port calls and probable dark port calls.",
            vessel_timeline_figure(tracks, gaps, mmsi, visible, dark),
        )


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------

_CSS = """
:root { --ink: #1d2329; --muted: #5b6670; --line: #d9dee3; --bg: #ffffff; --panel: #f5f7f9;
        --dark: #D55E00; --ru: #0072B2; --ir: #009E73; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: var(--bg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial,
             sans-serif; }
header { padding: 28px 32px 18px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 14px; }
nav a { margin-right: 16px; color: var(--ru); text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1400px; }
section { margin-top: 28px; }
h2 { font-size: 20px; margin: 0 0 10px; border-bottom: 2px solid var(--ink);
     display: inline-block; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 18px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
        padding: 10px 16px;
        min-width: 150px; }
.card .n { font-size: 24px; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .l { font-size: 13px; color: var(--muted); }
.card.dark .n { color: var(--dark); }
figure { margin: 14px 0 26px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 14px; max-width: 900px; }
.tablewrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums;
        margin: 6px 0 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right;
         white-space: nowrap; }
th { background: var(--panel); position: sticky; top: 0; }
td.t, th.t { text-align: left; }
tbody tr:nth-child(even) { background: #fafbfc; }
.note { color: var(--muted); font-size: 13px; }
details { margin: 10px 0; }
summary { cursor: pointer; font-weight: 600; }
dl.defs dt { font-weight: 700; margin-top: 8px; }
dl.defs dd { margin: 0 0 0 18px; color: #333; max-width: 900px; }
code { background: var(--panel); padding: 0 4px; border-radius: 3px; }
footer { padding: 16px 32px; color: var(--muted); font-size: 13px;
         border-top: 1px solid var(--line); }
"""

# Runs after the page has loaded; records how many images decoded, so that a headless
# browser (the test suite) can check the page without a screen. Touches nothing else.
_SELFTEST_JS = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.setAttribute("data-images-total", String(imgs.length));
  document.body.setAttribute("data-images-loaded", String(ok));
});
"""

_DEFINITIONS = (
    (
        "AIS gap",
        "A silence of at least the gap threshold between two consecutive AIS reports of "
        "one vessel. It starts at the last report before the silence and ends at the first "
        "after it.",
    ),
    (
        "Suspicious gap",
        "A gap the detector judged likely to be a deliberate switch-off rather "
        "than poor reception: long enough, in water where other ships kept being heard, and not "
        "explained by an outage of the receivers (see the <code>reason</code> column of "
        "<code>gaps.csv</code>).",
    ),
    (
        "Hours dark",
        "The total duration of a set of gaps, in hours. A gap counts in the month "
        "in which it started.",
    ),
    ("Visible port call", "A stay in a port area with AIS on."),
    (
        "Probable dark port call",
        "A port call inferred while AIS was off: the ship went silent "
        "near a port and reappeared after enough time to have called there. It is an inference "
        "from the track, not an observation.",
    ),
    (
        "Watch list",
        "Vessels ranked by hours in suspicious gaps (all gaps when suspicion was not "
        "assessed), then by probable dark port calls.",
    ),
)


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt_cell(v: object, col: str) -> tuple[str, bool]:
    """Text of a table cell and whether it is left-aligned text."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return "", False
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M"), False
    if isinstance(v, (bool, np.bool_)):
        return ("yes" if v else "no"), False
    if isinstance(v, (float, np.floating)):
        if col.endswith("_share"):
            return f"{100 * float(v):.0f} %", False
        return f"{float(v):,.1f}", False
    if isinstance(v, (int, np.integer)):
        if col in ("mmsi", "imo", "ship_type", "rank"):
            return str(int(v)), False
        return f"{int(v):,}", False
    if isinstance(v, pd.Period):
        return str(v), False
    return str(v), True


_HEADERS = {
    "month": "month (UTC)",
    "flag_state": "flag",
    "flag_group": "flag",
    "ship_category": "ship type",
    "ship_type": "ship type (ITU)",
    "gaps": "gaps",
    "vessels": "vessels",
    "hours_dark": "hours dark (h)",
    "suspicious_gaps": "suspicious gaps",
    "suspicious_hours_dark": "suspicious hours dark (h)",
    "dark_port_calls": "probable dark calls",
    "longest_gap_h": "longest gap (h)",
    "dark_call_ports": "dark calls at",
    "first_gap_start": "first gap (UTC)",
    "last_gap_end": "last gap end (UTC)",
    "visible_calls": "visible calls",
    "dark_calls": "probable dark calls",
    "dark_share": "dark share",
    "visible_vessels": "vessels (visible)",
    "dark_vessels": "vessels (dark)",
    "median_visible_call_h": "median visible call (h)",
    "median_dark_call_h": "median dark call (h)",
    "dark_call_flags": "flags of dark callers",
    "start_time": "start (UTC)",
    "end_time": "end (UTC)",
    "duration_h": "duration (h)",
}


def table_html(
    df: pd.DataFrame, *, max_rows: int | None = None, headers: Mapping[str, str] | None = None
) -> str:
    """An HTML ``<table>`` of ``df`` with escaped, readable cells.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    max_rows : int, optional
        Show only the first rows (a note says how many were left out).
    headers : mapping, optional
        Column labels (default: readable labels for the report's columns).

    Returns
    -------
    str
    """
    heads = {**_HEADERS, **(headers or {})}
    shown = df if max_rows is None else df.head(max_rows)
    cols = list(shown.columns)
    text_cols = {
        c
        for c in cols
        if shown[c].dtype == object
        or isinstance(shown[c].dtype, pd.StringDtype)
        or c in ("port", "name", "country", "unlocode", "reason", "flag_state", "ship_category")
    }
    out = ['<div class="tablewrap"><table>', "<thead><tr>"]
    for c in cols:
        cls = ' class="t"' if c in text_cols else ""
        out.append(f"<th{cls}>{_esc(heads.get(c, c.replace('_', ' ')))}</th>")
    out.append("</tr></thead><tbody>")
    rows = shown.itertuples(index=False, name=None)
    for row in rows:
        out.append("<tr>")
        for c, v in zip(cols, row, strict=True):
            text, is_text = _fmt_cell(v, c)
            cls = ' class="t"' if (is_text or c in text_cols) else ""
            if c == "flag_state" and text:
                text = style.flag_label(text)
            out.append(f"<td{cls}>{_esc(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    if max_rows is not None and len(df) > max_rows:
        out.append(f'<p class="note">First {max_rows:,} of {len(df):,} rows.</p>')
    if not len(df):
        out.append('<p class="note">(none)</p>')
    return "".join(out)


def _png_bytes(fig: Figure, dpi: int = _DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _img_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def _summary_counts(analysis: Any) -> dict[str, Any]:
    try:
        return dict(analysis.summary())
    except Exception:
        return {"gaps": len(analysis.gaps)}


def _monthly_flag_groups(analysis: Any) -> pd.DataFrame:
    gaps = analysis.gaps
    dark = _table(analysis, "dark_port_calls")
    t = monthly_summary(gaps, dark, by=("flag_group",))
    t["flag_group"] = t["flag_group"].map(
        lambda f: style.flag_label(f) if f != style.OTHER_FLAGS_LABEL else f
    )
    return t.rename(columns={"flag_group": "flag"})


def _rejected_by_reason(rejected: pd.DataFrame | None) -> pd.DataFrame:
    from caspian_ais.ledger import REASONS

    if rejected is None or not len(rejected) or "reason" not in rejected.columns:
        return pd.DataFrame(
            {
                "reason": pd.Series([], dtype=object),
                "rows": pd.Series([], dtype="int64"),
                "meaning": pd.Series([], dtype=object),
            }
        )
    c = rejected["reason"].astype(str).value_counts().rename_axis("reason").reset_index(name="rows")
    c["meaning"] = c["reason"].map(REASONS).fillna("")
    return c


def _params_table(params: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {"parameter": [str(k) for k in params], "value": [str(v) for v in params.values()]}
    )


def render_html(
    analysis: Analysis,
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: list[tuple[ReportFigure, bytes]] | None = None,
    *,
    files: Collection[str] | None = None,
    title: str = "caspian_ais report",
) -> str:
    """The report page as one self-contained HTML string.

    Parameters
    ----------
    analysis : caspian_ais.pipeline.Analysis
        What :func:`caspian_ais.analyze` returned.
    tables : mapping, optional
        The output of :func:`report_tables` (computed when not given).
    figures : list of (ReportFigure, bytes), optional
        Figures with their PNG bytes, embedded as ``data:`` URIs. ``None``: no figures.
    files : collection of str, optional
        Paths, relative to the page, of the files written beside it
        (``"watch_list.csv"``, ``"figures/map.svg"``, ...): the page links to those
        and names the others without a link.
    title : str, default "caspian_ais report"
        Page title.

    Returns
    -------
    str
        The HTML document. It references no network resource.
    """
    from caspian_ais import __version__

    tables = dict(tables) if tables is not None else report_tables(analysis)
    present = set(files or ())

    def link(name: str, text: str | None = None) -> str:
        label = _esc(text or name)
        return f'<a href="{_esc(name)}">{label}</a>' if name in present else f"<code>{label}</code>"

    counts = _summary_counts(analysis)
    sources = [str(s) for s in (getattr(analysis, "sources", None) or [])]
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    tracks = analysis.tracks
    period = ""
    if len(tracks) and "timestamp" in tracks.columns:
        ts = tracks["timestamp"]
        period = f"{ts.min():%Y-%m-%d %H:%M} to {ts.max():%Y-%m-%d %H:%M} UTC"

    card_defs = [
        ("rows_read", "rows read", False),
        ("rows_rejected", "rows rejected", False),
        ("vessels", "vessels", False),
        ("gaps", "AIS gaps", False),
        ("suspicious_gaps", "suspicious gaps", True),
        ("port_calls", "visible port calls", False),
        ("dark_port_calls", "probable dark port calls", True),
        ("round_trips", "dark round trips", True),
    ]
    cards = []
    for key, label, dark in card_defs:
        if key in counts:
            v = counts[key]
            num = f"{v:,}" if isinstance(v, (int, np.integer)) else _esc(v)
            cards.append(
                f'<div class="card{" dark" if dark else ""}"><div class="n">{num}</div>'
                f'<div class="l">{_esc(label)}</div></div>'
            )

    p: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>{_esc(title)}</h1>",
        "<p>AIS gaps and probable dark port calls · "
        f"{_esc(period) if period else 'no reports'}</p>",
        f"<p>Input: {_esc(', '.join(Path(s).name for s in sources[:5]))}"
        + (f" and {len(sources) - 5} more" if len(sources) > 5 else "")
        + "</p>"
        if sources
        else "",
        f'<div class="cards">{"".join(cards)}</div>',
        "</header>",
        '<nav><a href="#figures">Figures</a><a href="#watch-list">Watch list</a>'
        '<a href="#ports">Ports</a>'
        '<a href="#monthly">Monthly</a><a href="#sts">Ship-to-ship and spoofing</a>'
        '<a href="#run">Run: parameters, inputs, rejected rows</a>'
        '<a href="#definitions">Definitions</a></nav>',
        "<main>",
    ]

    def fig_files(name: str) -> str:
        got = [
            f"figures/{name}.{ext}" for ext in ("png", "svg") if f"figures/{name}.{ext}" in present
        ]
        if not got:
            return ""
        return " Files: " + ", ".join(link(g, g.rsplit(".", 1)[1].upper()) for g in got) + "."

    # figures
    p.append('<section id="figures"><h2>Figures</h2>')
    if figures:
        for rf, png in figures:
            p.append(
                f'<figure id="fig-{_esc(rf.name)}"><h3>{_esc(rf.title)}</h3>'
                f"{_img_tag(png, rf.title)}"
                f"<figcaption>{_esc(rf.caption)}{fig_files(rf.name)}</figcaption></figure>"
            )
    else:
        p.append('<p class="note">No figures were drawn.</p>')
    p.append("</section>")
    # watch list
    wl = tables.get("watch_list")
    p.append('<section id="watch-list"><h2>Watch list</h2>')
    p.append(
        '<p class="note">Vessels ranked by hours in suspicious gaps, then probable dark '
        f"port calls. All vessels: {link('watch_list.csv')}.</p>"
    )
    if wl is not None:
        p.append(table_html(wl, max_rows=HTML_WATCH_ROWS))
    p.append("</section>")
    # ports
    pt = tables.get("port_table")
    p.append('<section id="ports"><h2>Ports: visible against probable dark calls</h2>')
    p.append(
        '<p class="note">Per port: calls made with AIS on, and calls inferred while AIS was off. '
        f"{link('port_table.csv')}.</p>"
    )
    if pt is not None:
        p.append(table_html(pt))
    p.append("</section>")
    # monthly
    p.append('<section id="monthly"><h2>Monthly counts</h2>')
    p.append(
        '<p class="note">A gap counts in the month (UTC) it started. By flag: '
        f"{link('monthly_summary.csv')}; by ship type: {link('monthly_by_ship_type.csv')}; "
        f"by port: {link('monthly_by_port.csv')}.</p>"
    )
    p.append("<h3>By flag: Russia, Iran and the rest</h3>")
    p.append(table_html(_monthly_flag_groups(analysis)))
    for key, label in (
        ("monthly_summary", "By flag state"),
        ("monthly_by_ship_type", "By ship type"),
        ("monthly_by_port", "By port (where AIS went off, within 50 km)"),
    ):
        t = tables.get(key)
        if t is not None:
            p.append(
                f"<details><summary>{_esc(label)} ({len(t):,} rows)</summary>"
                f"{table_html(t, max_rows=500)}"
                "</details>"
            )
    for key, label in (
        ("dark_port_calls", "Probable dark port calls"),
        ("round_trips", "Dark round trips"),
    ):
        t = _table(analysis, key)
        if t is not None:
            p.append(
                f"<details><summary>{_esc(label)} ({len(t):,})</summary>"
                f"{table_html(_readable_calls(t), max_rows=200)}</details>"
            )
    p.append("</section>")
    # encounters, loitering, dark rendezvous, identity anomalies
    sts_tables = (
        ("encounters", "Encounters: two ships together at sea"),
        ("loitering", "Loitering at sea"),
        ("dark_rendezvous", "Dark rendezvous candidates"),
        ("identity_anomalies", "Identity and position anomalies"),
    )
    if any(_table(analysis, k) is not None for k, _ in sts_tables):
        p.append('<section id="sts"><h2>Ship-to-ship transfers and spoofing</h2>')
        p.append(
            '<p class="note">Leads, not findings: encounters, loitering and dark rendezvous '
            "(one ship lingering while another's AIS was off nearby), and positions or "
            "identities that cannot be true (see <code>docs/encounters_identity.md</code>). "
            + ", ".join(link(f"{k}.csv") for k, _ in sts_tables)
            + ".</p>"
        )
        for key, label in sts_tables:
            t = _table(analysis, key)
            if t is not None:
                shown = _rounded(t.drop(columns=["detail"], errors="ignore"))
                p.append(
                    f"<details><summary>{_esc(label)} ({len(t):,})</summary>"
                    f"{table_html(shown, max_rows=200)}</details>"
                )
        p.append("</section>")
    # run
    p.append('<section id="run"><h2>Run</h2>')
    beside = sorted(
        f for f in present if "/" not in f and f.endswith((".csv", ".json", ".parquet", ".geojson"))
    )
    if beside:
        p.append(
            '<p class="note">Files beside this page: '
            + ", ".join(link(f) for f in beside)
            + ".</p>"
        )
    p.append("<h3>Parameters</h3>")
    params = dict(getattr(analysis, "parameters", None) or {})
    p.append(
        table_html(_params_table(params), headers={"parameter": "parameter", "value": "value"})
        if params
        else '<p class="note">(none recorded)</p>'
    )
    p.append(f"<h3>Input files ({len(sources):,})</h3>")
    if sources:
        p.append(
            "<ul>" + "".join(f"<li><code>{_esc(s)}</code></li>" for s in sources[:200]) + "</ul>"
        )
        if len(sources) > 200:
            p.append(f'<p class="note">First 200 of {len(sources):,} files.</p>')
    else:
        p.append('<p class="note">An in-memory table (no files).</p>')
    rejected = getattr(analysis, "rejected", None)
    n_rej = int(len(rejected)) if rejected is not None else 0
    rows_read = counts.get("rows_read", getattr(analysis, "rows_read", None))
    read_text = (
        f" of {rows_read:,} read" if isinstance(rows_read, (int, np.integer)) and rows_read else ""
    )
    p.append(f"<h3>Rejected rows: {n_rej:,}{_esc(read_text)}</h3>")
    p.append(
        f'<p class="note">Every dropped row is in {link("rejected_rows.csv")} '
        "with its file, row number and reason.</p>"
    )
    p.append(table_html(_rejected_by_reason(rejected)))
    p.append("</section>")
    # definitions
    p.append('<section id="definitions"><h2>Definitions</h2><dl class="defs">')
    for term, text in _DEFINITIONS:
        p.append(f"<dt>{_esc(term)}</dt><dd>{text}</dd>")
    p.append(
        '</dl><p class="note">A gap is not proof of wrongdoing: receivers fail, and AIS may be '
        "switched off lawfully. The report points to where to look.</p></section>"
    )
    p.append("</main>")
    p.append(
        f"<footer>Generated {generated} by caspian_ais {_esc(__version__)}. "
        "This page is self-contained: "
        "it loads nothing from the network.</footer>"
    )
    p.append(f"<script>{_SELFTEST_JS}</script>")
    p.append("</body></html>")
    return "\n".join(x for x in p if x)


def _readable_calls(t: pd.DataFrame) -> pd.DataFrame:
    lead = [c for c in ("mmsi", "port", "start_time", "end_time", "duration_h") if c in t.columns]
    rest = [c for c in t.columns if c not in lead and c != "geometry"][:8]
    out = t[lead + rest]
    if "start_time" in out.columns:
        out = out.sort_values("start_time", kind="stable")
    out = out.copy()
    if "flag_state" not in out.columns and "mmsi" in out.columns:
        out.insert(1, "flag_state", _flags(t).to_numpy())
    return out


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------


def _rounded(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Hours rounded to 0.01 h (36 s) and shares to 0.001 for the CSV files."""
    cols = {c: decimals for c in table.columns if c.endswith("_h") or "hours" in c}
    cols.update({c: 3 for c in table.columns if c.endswith("_share")})
    return table.round(cols) if cols else table


def write_report(
    analysis: Analysis,
    out_dir: str | os.PathLike[str],
    *,
    figures: bool = True,
    formats: tuple[str, ...] = ("png", "svg"),
    timelines: int = DEFAULT_TIMELINES,
    dpi: int = _DPI,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the summary tables, the figures and ``report.html`` into ``out_dir``.

    Parameters
    ----------
    analysis : caspian_ais.pipeline.Analysis
        What :func:`caspian_ais.analyze` returned.
    out_dir : path-like
        Directory to write into (created if needed); figures go to ``figures/``.
    figures : bool, default True
        Draw the figures (``False``: tables and an HTML page without figures).
    formats : tuple of str, default ("png", "svg")
        File formats of each figure in ``figures/``.
    timelines : int, default 3
        Vessel timelines to draw, from the top of the watch list.
    dpi : int, default 130
        Resolution of the PNG files and of the images embedded in the page.
    progress : bool, default False
        Show a progress bar (on stderr) while drawing the figures.
    on_stage : callable, optional
        Called with a short message as each stage starts (the CLI prints them).

    Returns
    -------
    list of pathlib.Path
        The files written: the CSVs, the figure files, then ``report.html``.

    Examples
    --------
    >>> from caspian_ais.pipeline import analyze
    >>> from caspian_ais.report import write_report
    >>> result = analyze("data/sample/caspian_sample.parquet")   # doctest: +SKIP
    >>> paths = write_report(result, "out/")                       # doctest: +SKIP
    """
    from caspian_ais.export import write_table

    say = on_stage or (lambda _msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    say("summary tables")
    tables = report_tables(analysis)
    for name, table in tables.items():
        written.append(write_table(_rounded(table), out / f"{name}.csv"))
    rendered: list[tuple[ReportFigure, bytes]] = []
    if figures:
        fig_dir = out / "figures"
        fig_dir.mkdir(parents=True, exist_ok=True)
        say("drawing figures")
        n_expected = 3 + len(_timeline_vessels(tables["watch_list"], timelines))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_expected, desc="figures", unit="fig", file=sys.stderr, leave=False)
        try:
            for rf in report_figures(analysis, timelines=timelines, watch=tables["watch_list"]):
                png = _png_bytes(rf.figure, dpi)
                for fmt in formats:
                    path = fig_dir / f"{rf.name}.{fmt}"
                    if fmt == "png":
                        path.write_bytes(png)
                    else:
                        rf.figure.savefig(
                            path, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white"
                        )
                    written.append(path)
                rendered.append((ReportFigure(rf.name, rf.title, rf.caption, None), png))  # type: ignore[arg-type]
                rf.figure = None  # type: ignore[assignment]  # free it
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    say("writing report.html")
    present = [p.name for p in out.iterdir() if p.is_file()]
    if (out / "figures").is_dir():
        present += [f"figures/{p.name}" for p in (out / "figures").iterdir() if p.is_file()]
    page = render_html(analysis, tables, rendered if figures else None, files=present)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    written.append(path)
    return written
