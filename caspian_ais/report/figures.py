"""Figures of an analysis, drawn with matplotlib, offline.

Every function returns a :class:`matplotlib.figure.Figure` (made without pyplot, so it
needs no display, registers with no GUI and is freed when dropped). In a notebook run
``%matplotlib inline`` once and the returned figure shows itself; to save one, call
``fig.savefig("map.png", dpi=150)`` (any format matplotlib writes).

matplotlib is imported inside the functions, never when this module is imported.

Figures
-------
:func:`map_figure`
    The Caspian (or wherever the data are) with its Natural Earth coastline, tracks,
    gaps as dashed lines from switch-off to switch-on, ports and probable dark port
    calls.
:func:`monthly_gaps_figure`
    Gaps per month, Russian- and Iranian-flagged traffic against the other flags.
:func:`vessel_timeline_figure`
    One vessel: latitude over time, AIS on and off, visible and dark port calls.
:func:`gap_density_figure`
    Where gaps start: counts per square cell of a few tens of km.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from caspian_ais.report import style
from caspian_ais.report.tables import (
    _durations_h,
    _flags,
    _suspicious,
    _utc,
    default_ports,
    monthly_summary,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "map_figure",
    "monthly_gaps_figure",
    "vessel_timeline_figure",
    "gap_density_figure",
    "CASPIAN_EXTENT",
]

#: Map extent (lon_min, lon_max, lat_min, lat_max) of the whole Caspian with Astrakhan.
CASPIAN_EXTENT: tuple[float, float, float, float] = (46.4, 55.2, 36.0, 47.3)
_KM_PER_DEG = 111.32
_DPI = 100


# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------


def _new_figure(figsize: tuple[float, float], ax: Axes | None = None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=_DPI, layout="constrained")
    return fig, fig.add_subplot()


def _map_figsize(
    extent: tuple[float, float, float, float], side_in: float, height_in: float = 9.0
) -> tuple[float, float]:
    """Figure size whose map panel fills the height at the map's true aspect.

    ``side_in`` is the room (inches) for what sits beside the map: legend or colour bar.
    """
    x0, x1, y0, y1 = extent
    ratio = (y1 - y0) / max(
        (x1 - x0) * math.cos(math.radians((y0 + y1) / 2)), 1e-6
    )  # height / width
    map_h = height_in - 1.3  # titles, tick labels
    map_w = map_h / ratio
    if map_w > 11.0:  # wide areas: keep the width, shrink the height
        map_w = 11.0
        height_in = map_w * ratio + 1.3
    return (min(max(map_w + 1.0 + side_in, 6.0), 17.0), max(height_in, 4.5))


def _caspian_polygon() -> Any:
    try:
        from caspian_ais.water import caspian_water
    except ImportError:  # pragma: no cover - water.py ships with the package
        import json
        from importlib.resources import files

        from shapely.geometry import shape

        with (
            files("caspian_ais")
            .joinpath("data/caspian_sea_ne10m.geojson")
            .open("r", encoding="utf-8") as fh
        ):
            return shape(json.load(fh)["features"][0]["geometry"])
    return caspian_water()


def _volga_canal() -> Any:
    try:
        from caspian_ais.ports import volga_canal

        return volga_canal()
    except Exception:
        return None


def _robust_bounds(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float] | None:
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return None
    lon, lat = lon[ok], lat[ok]
    if lon.size > 200:
        lo = np.percentile(lon, [0.5, 99.5])
        la = np.percentile(lat, [0.5, 99.5])
        return float(lo[0]), float(lo[1]), float(la[0]), float(la[1])
    return float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1] and a[2] <= b[3] and b[2] <= a[3]


def _pad(
    ext: tuple[float, float, float, float], frac: float = 0.08, min_deg: float = 0.2
) -> tuple[float, float, float, float]:
    x0, x1, y0, y1 = ext
    dx = max(x1 - x0, min_deg)
    dy = max(y1 - y0, min_deg)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = dx * (1 + 2 * frac), dy * (1 + 2 * frac)
    return cx - dx / 2, cx + dx / 2, max(cy - dy / 2, -89.9), min(cy + dy / 2, 89.9)


def _resolve_extent(
    lon: np.ndarray,
    lat: np.ndarray,
    water: Any,
    extent: Sequence[float] | None,
) -> tuple[tuple[float, float, float, float], Any]:
    """Map extent and the water polygon to draw (or None)."""
    data_ext = _robust_bounds(lon, lat)
    if isinstance(water, str) and water == "auto":
        use_caspian = data_ext is None or _overlaps(
            _pad(data_ext, 0.0, 0.0), _pad(CASPIAN_EXTENT, 0.1)
        )
        water = _caspian_polygon() if use_caspian else None
        if extent is None and use_caspian:
            extent = CASPIAN_EXTENT
    elif water is False:
        water = None
    if extent is None:
        if data_ext is None:
            extent = water.bounds if water is not None else CASPIAN_EXTENT
            if water is not None:
                b = water.bounds
                extent = (b[0], b[2], b[1], b[3])
        else:
            extent = _pad(data_ext)
    x0, x1, y0, y1 = (float(v) for v in extent)
    return (x0, x1, y0, y1), water


def _ring_path(geom: Any) -> Any:
    """A matplotlib Path of a (Multi)Polygon, holes included."""
    from matplotlib.path import Path

    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    polys = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    for poly in polys:
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            c = np.full(len(xy), Path.LINETO, dtype=np.uint8)
            c[0] = Path.MOVETO
            c[-1] = Path.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    return Path(np.concatenate(verts), np.concatenate(codes))


def _draw_base(ax: Axes, extent: tuple[float, float, float, float], water: Any) -> None:
    """Land-coloured background with the water polygon (and the Volga canal) on top."""
    from matplotlib.patches import PathPatch

    if water is None:
        ax.set_facecolor(style.WATER_COLOR)
        return
    ax.set_facecolor(style.LAND_COLOR)
    ax.add_patch(
        PathPatch(
            _ring_path(water),
            facecolor=style.WATER_COLOR,
            edgecolor=style.COAST_COLOR,
            linewidth=0.7,
            zorder=0.5,
        )
    )
    canal = _volga_canal()
    if canal is not None:
        xy = np.asarray(canal.coords)
        ax.plot(
            xy[:, 0], xy[:, 1], color=style.COAST_COLOR, lw=1.6, zorder=0.6, solid_capstyle="round"
        )
        ax.plot(
            xy[:, 0], xy[:, 1], color=style.WATER_COLOR, lw=0.9, zorder=0.61, solid_capstyle="round"
        )


def _deg_formatter(hemis: tuple[str, str]) -> Any:
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: int) -> str:
        suffix = hemis[0] if v >= 0 else hemis[1]
        return f"{abs(v):g}°{suffix}"

    return FuncFormatter(fmt)


def _nice_km(width_km: float) -> float:
    target = width_km / 5.0
    exp = 10 ** math.floor(math.log10(max(target, 1e-9)))
    for m in (5, 2, 1):
        if m * exp <= target:
            return m * exp
    return exp


def _marker_handle(marker: str, size: float, face: str, label: str, *,
                   edge: str = "black") -> Any:
    """A legend entry showing one marker (no line)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", marker=marker, markersize=size,
                  markerfacecolor=face, markeredgecolor=edge, label=label)


def _finish_map(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """Limits, latitude-correct aspect, degree ticks, axis labels and a km scale bar."""
    from matplotlib.ticker import MaxNLocator

    x0, x1, y0, y1 = extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    mid = math.radians((y0 + y1) / 2)
    # equirectangular with true local scale: one degree of longitude is cos(lat) of one
    # degree of latitude on the ground
    ax.set_aspect(1.0 / max(math.cos(mid), 0.05))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 5, 10]))
    ax.xaxis.set_major_formatter(_deg_formatter(("E", "W")))
    ax.yaxis.set_major_formatter(_deg_formatter(("N", "S")))
    ax.set_xlabel("Longitude")
    ax.set_ylabel("Latitude")
    ax.tick_params(labelsize=8)
    ax.grid(True, color="white", lw=0.5, alpha=0.6, zorder=0.7)
    # scale bar, lower left
    km_per_deg_lon = _KM_PER_DEG * math.cos(mid)
    width_km = (x1 - x0) * km_per_deg_lon
    bar_km = _nice_km(width_km)
    bar_deg = bar_km / km_per_deg_lon
    bx = x0 + 0.04 * (x1 - x0)
    by = y0 + 0.04 * (y1 - y0)
    ax.plot([bx, bx + bar_deg], [by, by], color="black", lw=2.5, solid_capstyle="butt", zorder=6)
    ax.text(
        bx + bar_deg / 2,
        by + 0.012 * (y1 - y0),
        f"{bar_km:g} km",
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=6,
    )


def _halo() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=2.5, foreground="white")]


def _ports_frame(
    ports: Any, extent: tuple[float, float, float, float] | None = None
) -> pd.DataFrame | None:
    """Resolve the ``ports`` argument: None = bundled gazetteer, False = none."""
    if ports is False:
        return None
    if ports is None or ports is True:
        ports = default_ports()
    if ports is None or not len(ports):
        return None
    p = ports
    if extent is not None:
        x0, x1, y0, y1 = extent
        p = p[p["lon"].between(x0, x1) & p["lat"].between(y0, y1)]
    return p


def _label_offsets(names: Sequence[str]) -> dict[str, tuple[float, float, str]]:
    """Label placement (dx points, dy points, ha) for the bundled Caspian ports."""
    east = (6.0, 0.0, "left")
    west = (-6.0, 0.0, "right")
    table = {
        "Bandar Anzali": (0.0, -11.0, "center"),
        "Astara": west,
        "Nowshahr": (0.0, -11.0, "center"),
        "Bandar Amirabad": (0.0, -11.0, "center"),
        "Astrakhan": east,
        "Olya": (6.0, -3.0, "left"),
        "Makhachkala": west,
        "Baku": east,
        "Alat (Baku International Sea Trade Port)": west,
        "Aktau": east,
        "Kuryk": east,
        "Turkmenbashi": east,
    }
    return {n: table.get(n, east) for n in names}


def _draw_ports(ax: Axes, ports: pd.DataFrame | None, dark_counts: pd.Series | None = None) -> bool:
    if ports is None or not len(ports):
        return False
    ax.scatter(
        ports["lon"],
        ports["lat"],
        marker="s",
        s=22,
        color=style.PORT_COLOR,
        zorder=7,
        edgecolor="white",
        linewidth=0.6,
    )
    offsets = _label_offsets(list(ports["port"].astype(str)))
    for name, lat, lon in zip(ports["port"].astype(str), ports["lat"], ports["lon"], strict=True):
        dx, dy, ha = offsets[name]
        label = name.split(" (")[0]
        n_dark = int(dark_counts.get(name, 0)) if dark_counts is not None else 0
        if n_dark:
            label += f"\n{n_dark} probable dark call{'s' if n_dark != 1 else ''}"
        ax.annotate(
            label,
            (lon, lat),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va="center" if dy == 0 else ("top" if dy < 0 else "bottom"),
            fontsize=7.5,
            color=style.PORT_COLOR if not n_dark else "#8B2E00",
            fontweight="bold" if n_dark else "normal",
            path_effects=_halo(),
            zorder=8,
            annotation_clip=True,
        )
    return True


def _dark_call_positions(dark_port_calls: pd.DataFrame, ports: pd.DataFrame | None) -> pd.DataFrame:
    """Per port: count of dark calls and where to draw them (lon, lat)."""
    counts = dark_port_calls.groupby("port", observed=True).size().rename("n")
    pos = pd.DataFrame(index=counts.index)
    pos["lat"] = np.nan
    pos["lon"] = np.nan
    if ports is not None and len(ports):
        lookup = ports.drop_duplicates("port").set_index("port")
        pos["lat"] = lookup["lat"].reindex(pos.index).astype("float64")
        pos["lon"] = lookup["lon"].reindex(pos.index).astype("float64")
    for lat_col, lon_col in (("lat", "lon"), ("port_lat", "port_lon")):
        if lat_col in dark_port_calls.columns and lon_col in dark_port_calls.columns:
            own = dark_port_calls.groupby("port", observed=True)[[lat_col, lon_col]].mean()
            pos["lat"] = pos["lat"].fillna(own[lat_col])
            pos["lon"] = pos["lon"].fillna(own[lon_col])
    pos["n"] = counts
    return pos.dropna(subset=["lat", "lon"]).reset_index()


def _sorted_positions(
    tracks: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mmsi, time (ns), lon, lat of the tracks in (mmsi, time) order, copying only if needed."""
    from caspian_ais.trajectories import _ns

    m = tracks["mmsi"].to_numpy(dtype="int64")
    t = _ns(tracks["timestamp"])
    lon = tracks["lon"].to_numpy(dtype="float64", na_value=np.nan)
    lat = tracks["lat"].to_numpy(dtype="float64", na_value=np.nan)
    if m.size > 1:
        dm = np.diff(m)
        ordered = bool((dm >= 0).all() and ((dm != 0) | (np.diff(t) >= 0)).all())
        if not ordered:
            o = np.lexsort((t, m))
            m, t, lon, lat = m[o], t[o], lon[o], lat[o]
    return m, t, lon, lat


def _track_lines(
    tracks: pd.DataFrame, max_points: int, break_h: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Track coordinates with NaN breaks between vessels and across silences.

    Returns x, y (NaN-separated polyline), the lon and lat of the lone reports (stretches
    of one report, which a line cannot show) and the number of vessels. Subsamples with a
    uniform stride to at most ``max_points`` points, so 10 million reports draw in
    about a second.
    """
    m, t, lon, lat = _sorted_positions(tracks)
    n = m.size
    if n == 0:
        e = np.zeros(0)
        return e, e, e, e, 0
    brk = np.zeros(n, dtype=bool)
    brk[1:] = (m[1:] != m[:-1]) | ((t[1:] - t[:-1]) >= int(break_h * 3.6e12))
    seg = np.cumsum(brk)
    n_vessels = int((m[1:] != m[:-1]).sum()) + 1
    stride = max(1, math.ceil(n / max_points))
    if stride > 1:
        keep = np.zeros(n, dtype=bool)
        keep[::stride] = True
        keep[np.flatnonzero(brk)] = True  # keep the first point of every stretch
        end_of_seg = np.r_[brk[1:], True]
        keep[end_of_seg] = True
        if keep.sum() > 2 * max_points:  # very many short stretches: plain stride
            keep[:] = False
            keep[::stride] = True
        lon, lat, seg = lon[keep], lat[keep], seg[keep]
    change = seg[1:] != seg[:-1]
    lone = np.r_[True, change] & np.r_[change, True]
    cut = np.flatnonzero(change) + 1
    x = np.insert(lon, cut, np.nan)
    y = np.insert(lat, cut, np.nan)
    return x, y, lon[lone], lat[lone], n_vessels


def _period_text(times: pd.Series) -> str:
    t = _utc(times).dropna()
    if not len(t):
        return ""
    a, b = t.min(), t.max()
    fmt = "%-d %b %Y"
    if a.normalize() == b.normalize():
        return f"{a.strftime(fmt)} (UTC)"
    return f"{a.strftime(fmt)} – {b.strftime(fmt)} (UTC)"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------------------------------
# map
# ---------------------------------------------------------------------------------------


def map_figure(
    tracks: Any,
    gaps: pd.DataFrame,
    ports: pd.DataFrame | bool | None = None,
    dark_port_calls: pd.DataFrame | None = None,
    *,
    encounters: pd.DataFrame | None = None,
    loitering: pd.DataFrame | None = None,
    water: Any = "auto",
    extent: Sequence[float] | None = None,
    max_track_points: int = 300_000,
    break_h: float | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Map of tracks, gaps, ports and probable dark port calls.

    Parameters
    ----------
    tracks : pandas.DataFrame or movingpandas.TrajectoryCollection
        Canonical track table (``mmsi``, ``timestamp``, ``lat``, ``lon``). Drawn as
        thin translucent lines, broken between vessels and across silences, and
        rasterised; at most ``max_track_points`` points are drawn (uniform stride).
    gaps : pandas.DataFrame
        Gap table. Each closed gap is a dashed line from where AIS went off
        (``start_lat``/``start_lon``, marked with a small circle) to where it came
        back (``end_lat``/``end_lon``); vermillion when ``suspicious``, grey when not.
    ports : pandas.DataFrame, bool or None, default None
        Gazetteer (``port``, ``lat``, ``lon``) to mark and label; ``None`` uses the
        bundled Caspian gazetteer, ``False`` draws no ports.
    dark_port_calls : pandas.DataFrame, optional
        Probable dark port calls (``mmsi``, ``port``, ...): a yellow star at each port
        with at least one, sized by the count, and the count in the port's label.
    encounters : pandas.DataFrame, optional
        Encounters (:func:`caspian_ais.encounters.detect_encounters`, ``lat``/``lon``):
        a diamond at each.
    loitering : pandas.DataFrame, optional
        Loitering episodes (:func:`caspian_ais.loitering.detect_loitering`,
        ``lat``/``lon``): a triangle at each.
    water : "auto", shapely Polygon or False, default "auto"
        Water polygon drawn over a land-coloured background. ``"auto"``: the bundled
        Natural Earth Caspian when the data are in or near the Caspian, else no
        coastline (plain water background).
    extent : (lon_min, lon_max, lat_min, lat_max), optional
        Map extent in degrees. Default: the whole Caspian with Astrakhan for Caspian
        data, else the data's extent (0.5-99.5 percentiles) with a margin.
    max_track_points : int, default 300000
        Most track points drawn.
    break_h : float, optional
        Track lines are not drawn across silences of at least this many hours.
        Default: the shortest gap in ``gaps``, or 6 h.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches (ignored when ``ax`` is given). Default: 9 inches high, as wide
        as the map's aspect and the legend need.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The projection is equirectangular with the axes' aspect set to
    ``1 / cos(mean latitude)``, so distances east-west and north-south have the same
    scale in the middle of the map (the scale bar gives km there).

    Examples
    --------
    >>> from caspian_ais.report import map_figure
    >>> fig = map_figure(result.tracks, result.gaps,            # doctest: +SKIP
    ...                  dark_port_calls=result.tables.get("dark_port_calls"))
    >>> fig.savefig("map.png", dpi=150)                           # doctest: +SKIP
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    from caspian_ais.trajectories import as_tracks

    t = as_tracks(tracks)
    gl = [
        gaps[c].to_numpy(dtype="float64", na_value=np.nan)
        for c in ("start_lon", "start_lat", "end_lon", "end_lat")
        if c in gaps.columns
    ]
    if len(gl) == 4:
        s_lon, s_lat, e_lon, e_lat = gl
    else:
        s_lon = s_lat = e_lon = e_lat = np.zeros(0)
    # extent from a sample of the tracks plus the gap ends
    step = max(1, len(t) // 200_000)
    lon_all = np.r_[t["lon"].to_numpy(dtype="float64", na_value=np.nan)[::step], s_lon, e_lon]
    lat_all = np.r_[t["lat"].to_numpy(dtype="float64", na_value=np.nan)[::step], s_lat, e_lat]
    ext, water_geom = _resolve_extent(lon_all, lat_all, water, extent)
    fig, ax = _new_figure(figsize or _map_figsize(ext, 3.6), ax)
    _draw_base(ax, ext, water_geom)
    handles: list[Any] = []

    if break_h is None:
        dur = (
            _durations_h(gaps)
            if len(gaps) and ("duration_h" in gaps or "end_time" in gaps)
            else pd.Series([])
        )
        break_h = float(dur.min()) if len(dur) and np.isfinite(dur.min()) else 6.0
    x, y, lone_x, lone_y, n_vessels = _track_lines(t, max_track_points, break_h)
    if lone_x.size:
        ax.scatter(
            lone_x,
            lone_y,
            s=2.5,
            color=style.TRACK_COLOR,
            alpha=0.6,
            linewidths=0,
            rasterized=True,
            zorder=2,
        )
    if x.size:
        ax.plot(
            x,
            y,
            color=style.TRACK_COLOR,
            lw=0.45,
            alpha=0.45,
            rasterized=True,
            zorder=2,
            solid_capstyle="round",
        )
        handles.append(
            Line2D(
                [],
                [],
                color=style.TRACK_COLOR,
                lw=1.2,
                alpha=0.6,
                marker="." if lone_x.size else None,
                markevery=[1] if lone_x.size else None,
                label=f"AIS tracks ({_plural(n_vessels, 'vessel')})"
                + ("\ndots: reports with no neighbour in time" if lone_x.size else ""),
            )
        )

    susp = _suspicious(gaps)
    closed = np.isfinite(e_lon) & np.isfinite(e_lat) & np.isfinite(s_lon) & np.isfinite(s_lat)
    n_gaps = len(gaps)
    if n_gaps and s_lon.size:
        segs = np.stack([np.column_stack([s_lon, s_lat]), np.column_stack([e_lon, e_lat])], axis=1)
        is_s = susp.to_numpy() if susp is not None else np.zeros(n_gaps, dtype=bool)
        many = n_gaps > 3000
        known = susp is not None
        # (rows, colour, line width, line alpha, circle size or 0, label, zorder): the gaps
        # not judged suspicious recede (thin, pale, no circles when numerous) so that the
        # suspicious ones read on top of them
        n_other = int((~is_s).sum())
        n_susp = int(is_s.sum())
        groups = (
            (
                ~is_s,
                style.GAP_COLOR,
                0.6 if known else 0.9,
                (0.55 if n_other <= 100 else 0.3) if known else (0.85 if n_other <= 300 else 0.45),
                (5 if n_other <= 400 else 0) if known else (9 if n_other <= 400 else 3),
                "gap, not suspicious" if known else "AIS gap",
                3,
            ),
            (
                is_s,
                style.SUSPICIOUS_COLOR,
                1.5 if n_susp <= 60 else (1.1 if n_susp <= 300 else 0.9),
                0.95 if n_susp <= 60 else (0.85 if n_susp <= 300 else 0.75),
                14 if n_susp <= 60 else (9 if n_susp <= 300 else 6),
                "suspicious gap",
                4,
            ),
        )
        for mask, color, lw, alpha, size, label, z in groups:
            sel = mask & closed
            k = int(mask.sum())
            if not k:
                continue
            if sel.any():
                lc = LineCollection(
                    segs[sel],
                    colors=color,
                    linewidths=lw,
                    linestyles=(0, (3.5, 2.5)),
                    alpha=alpha,
                    zorder=z,
                    rasterized=many,
                )
                ax.add_collection(lc)
            if size:
                ax.scatter(
                    s_lon[mask],
                    s_lat[mask],
                    s=size,
                    facecolor="white",
                    edgecolor=color,
                    linewidth=1.0 if color == style.SUSPICIOUS_COLOR else 0.6,
                    alpha=1.0 if color == style.SUSPICIOUS_COLOR else max(alpha, 0.6),
                    zorder=z + 2,
                    rasterized=many,
                )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=color,
                    lw=lw + 0.4,
                    alpha=max(alpha, 0.6),
                    linestyle=(0, (3.5, 2.5)),
                    label=f"{label} ({k:,})",
                )
            )
        handles.append(_marker_handle(
            "o", 4.5, "white", "where AIS went off; the dashed line\nleads to where it came "
            "back on", edge="#444444"))

    port_df = _ports_frame(ports)
    dark_counts = None
    if dark_port_calls is not None and len(dark_port_calls):
        pos = _dark_call_positions(dark_port_calls, port_df)
        if len(pos):
            dark_counts = pos.set_index("port")["n"]
            size = 140 + 70 * np.sqrt(pos["n"].to_numpy(dtype="float64"))
            ax.scatter(
                pos["lon"],
                pos["lat"],
                marker="*",
                s=size,
                facecolor=style.DARK_CALL_FACE,
                edgecolor="black",
                linewidth=0.8,
                zorder=9,
            )
            handles.append(_marker_handle(
                "*", 14, style.DARK_CALL_FACE,
                f"port with probable dark calls ({len(dark_port_calls):,} calls)"))
    for table, marker, face, label in (
        (loitering, "^", "#56B4E9", "loitering"),
        (encounters, "D", "#CC79A7", "encounter (two ships together)"),
    ):
        if table is not None and len(table) and {"lat", "lon"} <= set(table.columns):
            ax.scatter(table["lon"], table["lat"], marker=marker, s=46, facecolor=face,
                       edgecolor="black", linewidth=0.7, zorder=8)
            handles.append(_marker_handle(marker, 7, face, f"{label} ({len(table):,})"))
    shown_ports = _ports_frame(port_df, ext) if port_df is not None else None
    if _draw_ports(ax, shown_ports, dark_counts):
        handles.append(_marker_handle("s", 5, style.PORT_COLOR, "port",
                                      edge=style.PORT_COLOR))

    _finish_map(ax, ext)
    period = _period_text(t["timestamp"]) if len(t) else ""
    ax.set_title(
        title or "AIS tracks, gaps and probable dark port calls",
        loc="left",
        fontsize=12,
        fontweight="bold",
    )
    sub = []
    if period:
        sub.append(period)
    if n_gaps:
        sub.append(
            _plural(n_gaps, "gap")
            + (f", {int(susp.sum()):,} suspicious" if susp is not None else "")
        )
    if sub:
        ax.text(
            0.0,
            1.005,
            " · ".join(sub),
            transform=ax.transAxes,
            fontsize=8.5,
            color="#444444",
            va="bottom",
        )
        ax.set_title(
            ax.get_title(loc="left") + "\n" * (sub.count("\n") + 1),
            loc="left",
            fontsize=12,
            fontweight="bold",
        )
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=8,
            frameon=False,
            title="Legend",
            title_fontsize=9,
            alignment="left",
        )
    return fig


# ---------------------------------------------------------------------------------------
# monthly chart
# ---------------------------------------------------------------------------------------


def _partial_months(months: pd.PeriodIndex, period: tuple[Any, Any] | None) -> dict[pd.Period, str]:
    """Months only partly inside ``period``, with the days covered ("15–31")."""
    if period is None or not len(months):
        return {}
    a = pd.Timestamp(period[0])
    b = pd.Timestamp(period[1])
    a = a.tz_convert("UTC").tz_localize(None) if a.tzinfo else a
    b = b.tz_convert("UTC").tz_localize(None) if b.tzinfo else b
    out = {}
    for p in months:
        first, last = p.start_time, p.end_time
        lo, hi = max(first, a), min(last, b)
        if lo.normalize() > first.normalize() or hi.normalize() < last.normalize():
            out[p] = f"{lo.day}–{hi.day}" if lo <= hi else "no data"
    return out


def _month_ticks(
    ax: Axes, months: pd.PeriodIndex, partial: dict[pd.Period, str] | None = None
) -> None:
    labels = []
    partial = partial or {}
    for i, p in enumerate(months):
        text = p.strftime("%b\n%Y") if (i == 0 or p.month == 1) else p.strftime("%b")
        if p in partial:
            text += f"\n({partial[p]} only)"
        labels.append(text)
    step = max(1, math.ceil(len(months) / 18))
    pos = np.arange(len(months))
    ax.set_xticks(pos[::step])
    ax.set_xticklabels(labels[::step], fontsize=8)


def _monthly_bars(
    ax: Axes,
    months: pd.PeriodIndex,
    groups: list[str],
    series: Any,
    col: str,
    *,
    kind: str,
    pale: bool = False,
) -> None:
    """Grouped bars (or lines) of ``col`` per month, one per flag group."""
    x = np.arange(len(months))
    width = 0.8 / len(groups)
    for i, grp in enumerate(groups):
        color = style.flag_color(grp, i)
        y = series(col, grp)
        if kind == "bar":
            off = (i - (len(groups) - 1) / 2) * width
            if pale:
                ax.bar(
                    x + off,
                    y,
                    width * 0.95,
                    color=color,
                    alpha=0.3,
                    edgecolor=color,
                    linewidth=0.8,
                    zorder=2,
                )
            else:
                ax.bar(x + off, y, width * 0.95, color=color, zorder=3)
        else:
            # a small sideways shift per flag keeps equal values from hiding each other
            ax.plot(
                x + (i - (len(groups) - 1) / 2) * 0.04,
                y,
                color=color,
                lw=2 if not pale else 1.5,
                ls="-" if not pale else "--",
                marker="o",
                ms=4,
                markerfacecolor=color if not pale else "white",
                zorder=3,
            )
    ax.grid(True, axis="y", color="#DDDDDD", lw=0.7, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.6, max(len(months) - 0.4, 0.6))


def monthly_gaps_figure(
    gaps: pd.DataFrame,
    *,
    flags: Sequence[str] = style.FOCUS_FLAGS,
    value: str = "gaps",
    kind: str = "bar",
    suspicious: str = "panel",
    min_gap: str | None = None,
    period: tuple[Any, Any] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Gaps per month by flag: the focus flags (Russia, Iran) against all other flags.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table (``mmsi``, ``start_time``, ``duration_h``; ``flag_state`` and
        ``suspicious`` when present). A gap counts in the month (UTC) it started.
    flags : sequence of str, default ("RU", "IR")
        Flags drawn on their own; every other flag is pooled as "other flags".
    value : {"gaps", "hours_dark"}, default "gaps"
        Count gaps, or sum their durations (hours).
    kind : {"bar", "line"}, default "bar"
        Grouped bars or lines.
    suspicious : {"panel", "overlay", "only", "none"}, default "panel"
        How to show the suspicious gaps when the table has a ``suspicious`` column:
        a second panel below with its own scale (natural reception gaps usually
        outnumber the suspicious ones, which would otherwise be hard to read), inside
        the bars of all gaps (pale bar: all, solid part: suspicious; dashed lines for
        ``kind="line"``), only the suspicious ones, or not at all. ``"panel"`` becomes
        ``"overlay"`` when ``ax`` is given.
    min_gap : str, optional
        The gap threshold used (e.g. ``"6h"``), quoted in the subtitle.
    period : (timestamp, timestamp), optional
        First and last time (UTC) the data cover, e.g. the tracks' first and last
        report. Months only partly covered are marked on the axis and in the subtitle,
        since their counts are not comparable with full months.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches (ignored when ``ax`` is given); default 10 x 5, or 10 x 7.5 with
        the suspicious panel.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (one panel).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from caspian_ais.report import monthly_gaps_figure
    >>> fig = monthly_gaps_figure(result.gaps, min_gap="6h")   # doctest: +SKIP
    """
    from matplotlib.patches import Patch

    if value not in ("gaps", "hours_dark"):
        raise ValueError(f"value must be 'gaps' or 'hours_dark', got {value!r}")
    if kind not in ("bar", "line"):
        raise ValueError(f"kind must be 'bar' or 'line', got {kind!r}")
    if suspicious not in ("panel", "overlay", "only", "none"):
        raise ValueError(
            f"suspicious must be 'panel', 'overlay', 'only' or 'none', got {suspicious!r}"
        )
    susp_all = _suspicious(gaps)
    if susp_all is None:
        if suspicious == "only":
            raise KeyError("suspicious='only' needs a 'suspicious' column in gaps")
        suspicious = "none"
    if suspicious == "panel" and ax is not None:
        suspicious = "overlay"
    flags = list(flags)
    g = gaps.copy()
    g["flag_state"] = _flags(gaps).where(lambda s: s.isin(flags), style.OTHER_FLAGS_LABEL)
    ms = monthly_summary(g, by=("flag_state",))
    groups = [*flags, style.OTHER_FLAGS_LABEL]
    if len(ms):
        months = pd.period_range(ms["month"].min(), ms["month"].max(), freq="M")
    else:
        months = pd.PeriodIndex([], freq="M")
    susp_col = "suspicious_gaps" if value == "gaps" else "suspicious_hours_dark"

    def series(col: str, group: str) -> np.ndarray:
        sub = ms[ms["flag_state"] == group].set_index("month")[col]
        return sub.reindex(months).astype("float64").fillna(0.0).to_numpy()

    if ax is None:
        from matplotlib.figure import Figure as _Figure

        two = suspicious == "panel"
        fig = _Figure(
            figsize=figsize or (10.0, 7.5 if two else 5.0), dpi=_DPI, layout="constrained"
        )
        if two:
            ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1])
        else:
            ax, ax2 = fig.add_subplot(), None
    else:
        fig, ax2 = ax.figure, None  # type: ignore[assignment]
    what = "AIS gaps" if value == "gaps" else "hours without AIS"
    what_cap = what[0].upper() + what[1:]
    unit = "(count)" if value == "gaps" else "(h)"
    if suspicious == "only":
        _monthly_bars(ax, months, groups, series, susp_col, kind=kind)
        ax.set_ylabel(f"Suspicious {what} per month {unit}")
    else:
        _monthly_bars(ax, months, groups, series, value, kind=kind, pale=suspicious == "overlay")
        if suspicious == "overlay":
            if kind == "bar":
                _monthly_bars(ax, months, groups, series, susp_col, kind=kind)
            else:
                # solid: all gaps, dashed: suspicious
                for line in ax.lines:
                    line.set_linestyle("-")
                    line.set_linewidth(2)
                    line.set_markerfacecolor(line.get_color())
                _monthly_bars(ax, months, groups, series, susp_col, kind=kind, pale=True)
        ax.set_ylabel(f"{what_cap} per month {unit}")
    if ax2 is not None:
        _monthly_bars(ax2, months, groups, series, susp_col, kind=kind)
        ax2.set_ylabel(f"Suspicious {what}\nper month {unit}")
        ax.set_ylabel(f"All {what}\nper month {unit}")
    bottom = ax2 if ax2 is not None else ax
    partial = _partial_months(months, period)
    _month_ticks(bottom, months, partial)
    bottom.set_xlabel("Month (UTC) in which AIS went silent")

    handles: list[Any] = []
    for i, grp in enumerate(groups):
        label = (
            f"{style.flag_label(grp)}-flagged"
            if grp != style.OTHER_FLAGS_LABEL
            else "all other flags"
        )
        if kind == "bar":
            handles.append(Patch(facecolor=style.flag_color(grp, i), label=label))
        else:
            from matplotlib.lines import Line2D

            handles.append(
                Line2D([], [], color=style.flag_color(grp, i), lw=2, marker="o", ms=4, label=label)
            )
    shading: list[Any] = []
    if suspicious == "overlay":
        c0 = style.flag_color(groups[0], 0)
        if kind == "bar":
            shading = [
                Patch(facecolor=c0, alpha=0.3, edgecolor=c0, label="pale bar: all gaps"),
                Patch(facecolor=c0, label="solid part: of which\nsuspicious"),
            ]
        else:
            from matplotlib.lines import Line2D

            shading = [
                Line2D([], [], color=c0, lw=2, marker="o", ms=4, label="all gaps"),
                Line2D(
                    [],
                    [],
                    color=c0,
                    lw=1.5,
                    ls="--",
                    marker="o",
                    ms=4,
                    markerfacecolor="white",
                    label="of which suspicious",
                ),
            ]

    top_title = {
        ("gaps", True): "AIS gaps per month: Russian- and Iranian-flagged ships against the rest",
        ("hours_dark", True): "Hours without AIS per month: Russian- and Iranian-flagged ships "
        "against the rest",
    }.get((value, flags == list(style.FOCUS_FLAGS)), f"{what_cap} per month by flag")
    thr = f"silences of at least {min_gap}" if min_gap else "transmission gaps"
    sub = f"{thr}; a gap counts in the month it started · {_plural(len(gaps), 'gap')} in all"
    if susp_all is not None:
        sub += f", {int(susp_all.sum()):,} suspicious"
    if partial:
        sub += "\nthe data cover only part of " + ", ".join(p.strftime("%b %Y") for p in partial)
        sub += ": their bars are not comparable with full months"
    if ax2 is not None:
        fig.suptitle(title or top_title, x=0.01, ha="left", fontsize=12, fontweight="bold")
        sub += (
            "\nTop: every gap, whatever its cause (most are holes in reception)."
            "\nBottom: the suspicious ones, judged likely switch-offs (note its own scale)."
        )
        ax.set_title(sub, loc="left", fontsize=8.5, color="#444444")
        fig.legend(
            handles=handles,
            loc="outside right upper",
            fontsize=8.5,
            frameon=False,
            title="Flag state",
            title_fontsize=9,
            alignment="left",
        )
    else:
        ax.set_title(title or top_title, loc="left", fontsize=12, fontweight="bold")
        ax.text(0.0, 1.0, sub, transform=ax.transAxes, fontsize=8.5, color="#444444", va="bottom")
        ax.set_title(
            ax.get_title(loc="left") + "\n" * (sub.count("\n") + 1),
            loc="left",
            fontsize=12,
            fontweight="bold",
        )
        leg = ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8.5,
            frameon=False,
            title="Flag state",
            title_fontsize=9,
            alignment="left",
        )
        if shading:
            ax.add_artist(leg)
            ax.legend(
                handles=shading,
                loc="upper left",
                bbox_to_anchor=(1.01, 0.55),
                fontsize=8.5,
                frameon=False,
                title="Reading the bars" if kind == "bar" else "Reading the lines",
                title_fontsize=9,
                alignment="left",
            )
    if not len(months):
        ax.text(
            0.5, 0.5, "no gaps", transform=ax.transAxes, ha="center", va="center", color="#888888"
        )
    return fig


# ---------------------------------------------------------------------------------------
# vessel timeline
# ---------------------------------------------------------------------------------------


def _vessel_rows(df: pd.DataFrame | None, mmsi: int) -> pd.DataFrame:
    if df is None or not len(df) or "mmsi" not in df.columns:
        return pd.DataFrame(columns=["mmsi", "port", "start_time", "end_time"])
    return df[df["mmsi"].to_numpy(dtype="int64") == int(mmsi)]


def _bars(ax: Axes, starts: pd.Series, ends: pd.Series, y: float, h: float, **kw: Any) -> None:
    import matplotlib.dates as mdates

    s = mdates.date2num(_utc(starts).dt.tz_localize(None).to_numpy())
    e = mdates.date2num(_utc(ends).dt.tz_localize(None).to_numpy())
    ok = np.isfinite(s) & np.isfinite(e)
    if ok.any():
        ax.broken_barh(
            list(zip(s[ok], np.maximum(e[ok] - s[ok], 0.0), strict=True)), (y - h / 2, h), **kw
        )


def _short_port(name: str) -> str:
    """Short port label for crowded lanes: "Bandar Anzali" -> "Anzali"."""
    name = name.split(" (")[0]
    return name[len("Bandar ") :] if name.startswith("Bandar ") else name


def vessel_timeline_figure(
    tracks: Any,
    gaps: pd.DataFrame,
    mmsi: int,
    port_calls: pd.DataFrame | None = None,
    dark_port_calls: pd.DataFrame | None = None,
    *,
    ports: pd.DataFrame | bool | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (11.0, 6.0),
) -> Figure:
    """One vessel's story: latitude over time, AIS on and off, port calls, dark calls.

    The top panel plots each AIS report's latitude against time (a Caspian crossing
    runs north-south, so a round trip is a up-and-down line), with the silences shaded
    and bridged by dashed lines, and the latitudes of the ports it called at drawn as
    dotted lines. The lower panel has three lanes: AIS transmitting (green) or silent
    (hatched, vermillion when suspicious), visible port calls (blue) and probable dark
    port calls (hatched vermillion), labelled with the port.

    Parameters
    ----------
    tracks : pandas.DataFrame or movingpandas.TrajectoryCollection
        Canonical track table (all vessels or this one).
    gaps : pandas.DataFrame
        Gap table (all vessels or this one).
    mmsi : int
        The vessel.
    port_calls, dark_port_calls : pandas.DataFrame, optional
        Visible and probable dark port calls (``mmsi``, ``port``, ``start_time``,
        ``end_time``).
    ports : pandas.DataFrame, bool or None, default None
        Gazetteer for the port latitude lines; ``None`` = bundled, ``False`` = none.
    title : str, optional
        Title; default the vessel's name, MMSI, IMO and flag.
    figsize : (float, float), default (11.0, 6.0)
        Size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from caspian_ais.report import vessel_timeline_figure
    >>> fig = vessel_timeline_figure(result.tracks, result.gaps, 273123456)   # doctest: +SKIP
    """
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure as _Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from caspian_ais.trajectories import as_tracks

    t_all = as_tracks(tracks)
    mmsi = int(mmsi)
    t = t_all[t_all["mmsi"].to_numpy(dtype="int64") == mmsi]
    t = t.sort_values("timestamp", kind="stable")
    g = _vessel_rows(gaps, mmsi)
    vis = _vessel_rows(port_calls, mmsi)
    dark = _vessel_rows(dark_port_calls, mmsi)
    if not len(t) and not len(g):
        raise ValueError(f"no reports and no gaps for MMSI {mmsi}")

    fig = _Figure(figsize=figsize, dpi=_DPI, layout="constrained")
    ax, lanes = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.9])
    susp = _suspicious(g)
    is_s = susp.to_numpy() if susp is not None else np.zeros(len(g), dtype=bool)
    times = _utc(t["timestamp"]).dt.tz_localize(None)

    # -- top: latitude over time
    lat = t["lat"].to_numpy(dtype="float64", na_value=np.nan)
    tn = mdates.date2num(times.to_numpy())
    if len(g):
        # break the line at each gap start so no solid line crosses a silence
        gs = mdates.date2num(_utc(g["start_time"]).dt.tz_localize(None).to_numpy())
        cut = np.searchsorted(tn, gs, side="right")
        cut = np.unique(cut[(cut > 0) & (cut < tn.size)])
        x_line = np.insert(tn, cut, np.nan)
        y_line = np.insert(lat, cut, np.nan)
    else:
        x_line, y_line = tn, lat
    ax.plot(x_line, y_line, color=style.TRACK_COLOR, lw=0.8, alpha=0.7, zorder=3)
    ax.plot(
        tn,
        lat,
        linestyle="none",
        marker=".",
        ms=2.2,
        color=style.TRACK_COLOR,
        zorder=4,
        rasterized=len(tn) > 5000,
    )
    for k in range(len(g)):
        row = g.iloc[k]
        color = style.SUSPICIOUS_COLOR if is_s[k] else style.GAP_COLOR
        s = mdates.date2num(_utc(pd.Series([row["start_time"]])).dt.tz_localize(None).to_numpy())[0]
        end_t = row["end_time"] if "end_time" in g.columns else pd.NaT
        e = (
            mdates.date2num(_utc(pd.Series([end_t])).dt.tz_localize(None).to_numpy())[0]
            if pd.notna(end_t)
            else np.nan
        )
        if np.isfinite(e):
            ax.axvspan(s, e, color=color, alpha=0.12, lw=0, zorder=1)
            if "start_lat" in g.columns and "end_lat" in g.columns:
                ax.plot(
                    [s, e],
                    [row["start_lat"], row["end_lat"]],
                    color=color,
                    lw=1.2,
                    ls=(0, (3.5, 2.5)),
                    zorder=3,
                )
    ax.set_ylabel("Latitude (°N)")
    ax.yaxis.set_major_formatter(_deg_formatter(("N", "S")))
    ax.grid(True, color="#E5E5E5", lw=0.6)
    # ports of this vessel's calls as latitude lines
    port_df = _ports_frame(ports)
    called = (
        pd.concat([vis["port"], dark["port"]]).dropna().astype(str).unique()
        if len(vis) + len(dark)
        else []
    )
    if port_df is not None and len(called):
        mine = port_df[port_df["port"].astype(str).isin(called)].sort_values("lat")
        lo = min(np.nanmin(lat) if lat.size else np.inf, mine["lat"].min())
        hi = max(np.nanmax(lat) if lat.size else -np.inf, mine["lat"].max())
        if np.isfinite(lo) and np.isfinite(hi):
            padding = max(0.05 * (hi - lo), 0.1)
            y0, y1 = lo - padding, hi + padding
            ax.set_ylim(y0, y1)
            # labels at the ports' latitudes, pushed apart where ports lie close together
            axes_pt = figsize[1] * 72 * 3 / (3 + 1.9) * 0.8
            min_gap = 9.0 / axes_pt
            frac = ((mine["lat"].to_numpy() - y0) / (y1 - y0)).tolist()
            placed: list[float] = []
            for f in frac:
                placed.append(max(f, placed[-1] + min_gap) if placed else f)
            overflow = placed[-1] - 1.0 if placed else 0.0
            if overflow > 0:
                placed = [v - overflow for v in placed]
                for i in range(len(placed) - 2, -1, -1):
                    placed[i] = min(placed[i], placed[i + 1] - min_gap)
            for (_, prow), ypos in zip(mine.iterrows(), placed, strict=True):
                ax.axhline(prow["lat"], color="#777777", lw=0.7, ls=":", zorder=2)
                ax.text(
                    1.006,
                    ypos,
                    str(prow["port"]).split(" (")[0],
                    transform=ax.transAxes,
                    fontsize=7.5,
                    va="center",
                    ha="left",
                    color="#444444",
                    clip_on=False,
                )

    # -- bottom: lanes
    lane_h = 0.6
    y_ais, y_vis, y_dark = 3.0, 1.5, 0.0
    span_days = float(tn.max() - tn.min()) if tn.size > 1 else 1.0
    axes_px = figsize[0] * _DPI * 0.78
    label_days_per_char = span_days * (6.5 * _DPI / 72 * 0.62) / axes_px  # 6.5 pt text
    if len(t):
        seg_start = [times.iloc[0]]
        seg_end = []
        for k in np.argsort(_utc(g["start_time"]).to_numpy()) if len(g) else []:
            row = g.iloc[k]
            seg_end.append(_utc(pd.Series([row["start_time"]])).dt.tz_localize(None).iloc[0])
            end_t = row["end_time"] if "end_time" in g.columns else pd.NaT
            seg_start.append(
                _utc(pd.Series([end_t])).dt.tz_localize(None).iloc[0] if pd.notna(end_t) else pd.NaT
            )
        seg_end.append(times.iloc[-1])
        on = pd.DataFrame({"s": seg_start, "e": seg_end}).dropna()
        on = on[on["e"] >= on["s"]]
        _bars(
            lanes, on["s"], on["e"], y_ais, lane_h, facecolor=style.AIS_ON_COLOR, edgecolor="none"
        )
    if len(g) and "end_time" in g.columns:
        for mask, color in ((~is_s, style.GAP_COLOR), (is_s, style.SUSPICIOUS_COLOR)):
            if mask.any():
                _bars(
                    lanes,
                    g.loc[mask, "start_time"],
                    g.loc[mask, "end_time"],
                    y_ais,
                    lane_h,
                    facecolor="white",
                    edgecolor=color,
                    hatch="////",
                    linewidth=0.6,
                )
    for calls, y, color, hatch in (
        (vis, y_vis, style.VISIBLE_CALL_COLOR, None),
        (dark, y_dark, style.DARK_CALL_COLOR, "xxxx"),
    ):
        if not len(calls):
            continue
        end_col = calls["end_time"] if "end_time" in calls.columns else calls["start_time"]
        if hatch:
            _bars(
                lanes,
                calls["start_time"],
                end_col,
                y,
                lane_h,
                facecolor="#FBE3D6",
                edgecolor=color,
                hatch=hatch,
                linewidth=0.6,
            )
        else:
            _bars(lanes, calls["start_time"], end_col, y, lane_h, facecolor=color, edgecolor="none")
        mids = _utc(calls["start_time"]) + (_utc(end_col) - _utc(calls["start_time"])) / 2
        order = np.argsort(mids.to_numpy())
        row_right = [-np.inf, -np.inf]  # two staggered label rows above the bars
        for i in order:
            mid, port = mids.iloc[i], _short_port(str(calls["port"].iloc[i]))
            if pd.isna(mid):
                continue
            x = mdates.date2num(mid.tz_localize(None))
            half = 0.5 * (len(port) + 1.5) * label_days_per_char
            row = next((r for r in (0, 1) if x - half >= row_right[r]), None)
            if row is None:  # no room in either row: leave this one unlabelled
                continue
            row_right[row] = x + half
            lanes.annotate(
                port,
                (x, y + lane_h / 2),
                xytext=(0, 1.5 + 8.5 * row),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=6.5,
                color="#333333",
                annotation_clip=True,
            )
    lanes.set_yticks([y_ais, y_vis, y_dark])
    lanes.set_yticklabels(["AIS", "Visible port calls", "Probable dark\nport calls"], fontsize=8)
    lanes.set_ylim(y_dark - 0.55, y_ais + 0.45)
    lanes.grid(True, axis="x", color="#E5E5E5", lw=0.6)
    lanes.set_xlabel("Time (UTC)")
    loc = mdates.AutoDateLocator(minticks=4, maxticks=10)
    lanes.xaxis.set_major_locator(loc)
    fmt = mdates.ConciseDateFormatter(loc)
    fmt.offset_formats = ["", "%Y", "%Y", "%Y-%m-%d", "%Y-%m-%d", "%Y-%m-%d %H:%M"]
    lanes.xaxis.set_major_formatter(fmt)
    if len(t):
        pad = (tn.max() - tn.min()) * 0.01 if tn.size > 1 else 0.5
        ax.set_xlim(tn.min() - pad, tn.max() + pad)

    # -- title and legend
    if title is None:
        name = None
        for src in (t, g):
            if "name" in src.columns and src["name"].notna().any():
                name = str(src["name"].dropna().mode().iloc[0])
                break
        imo = None
        if "imo" in t.columns and t["imo"].notna().any():
            imo = int(t["imo"].dropna().mode().iloc[0])
        flag = _flags(t.head(1) if len(t) else g.head(1)).iloc[0]
        bits = [name or "unnamed vessel", f"MMSI {mmsi}"]
        if imo:
            bits.append(f"IMO {imo}")
        bits.append(f"flag {style.flag_label(flag)}")
        title = " · ".join(bits)
    fig.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold")
    n_s = int(is_s.sum())
    hours = float(_durations_h(g).sum()) if len(g) else 0.0
    ax.set_title(
        f"{_plural(len(t), 'AIS report')} · {_plural(len(g), 'gap')} ({n_s} suspicious), "
        f"{hours:,.0f} h without AIS · {_plural(len(vis), 'visible port call')} · "
        f"{_plural(len(dark), 'probable dark port call')}",
        loc="left",
        fontsize=8.5,
        color="#444444",
    )
    handles = [
        Line2D([], [], color=style.TRACK_COLOR, marker=".", lw=0.8, label="AIS reports (latitude)"),
        Patch(facecolor=style.AIS_ON_COLOR, label="AIS transmitting"),
        Patch(
            facecolor="white",
            edgecolor=style.SUSPICIOUS_COLOR,
            hatch="////",
            label="AIS silent: suspicious gap",
        ),
        Patch(
            facecolor="white",
            edgecolor=style.GAP_COLOR,
            hatch="////",
            label="AIS silent: other gap",
        ),
        Patch(facecolor=style.VISIBLE_CALL_COLOR, label="visible port call"),
        Patch(
            facecolor="#FBE3D6",
            edgecolor=style.DARK_CALL_COLOR,
            hatch="xxxx",
            label="probable dark port call",
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=7.5, frameon=False)
    return fig


# ---------------------------------------------------------------------------------------
# gap density
# ---------------------------------------------------------------------------------------


def _nice_cell_km(target: float) -> float:
    """The largest of 1, 2, 2.5, 5 times a power of ten not above ``target`` (km)."""
    exp = 10 ** math.floor(math.log10(max(target, 1e-3)))
    return max(m * exp for m in (1, 2, 2.5, 5) if m * exp <= max(target, exp))


def gap_density_figure(
    gaps: pd.DataFrame,
    *,
    cell_km: float | None = None,
    suspicious_only: bool = False,
    tracks: Any = None,
    ports: pd.DataFrame | bool | None = None,
    water: Any = "auto",
    extent: Sequence[float] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Where AIS goes silent: the number of gaps starting in each square map cell.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table with ``start_lat``/``start_lon`` (the last position before the
        silence).
    cell_km : float, optional
        Side of the square cells, km (measured at the middle latitude of the map).
        Default: a round number of km near 1/25 of the map's width (25 km for the Caspian).
    tracks : pandas.DataFrame or movingpandas.TrajectoryCollection, optional
        Drawn underneath in light grey, for orientation where the map has no coastline.
    suspicious_only : bool, default False
        Count only gaps whose ``suspicious`` column is true.
    ports : pandas.DataFrame, bool or None, default None
        Gazetteer to mark; ``None`` = bundled, ``False`` = none.
    water : "auto", shapely Polygon or False, default "auto"
        As in :func:`map_figure`.
    extent : (lon_min, lon_max, lat_min, lat_max), optional
        As in :func:`map_figure`.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Size in inches (ignored when ``ax`` is given); default from the map's aspect.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes.

    Returns
    -------
    matplotlib.figure.Figure
        Cells without gaps are transparent; the colour bar gives gaps per cell, on a
        logarithmic scale when the busiest cell has 30 or more.

    Examples
    --------
    >>> from caspian_ais.report import gap_density_figure
    >>> fig = gap_density_figure(result.gaps, suspicious_only=True)   # doctest: +SKIP
    """
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import MaxNLocator

    for col in ("start_lat", "start_lon"):
        if col not in gaps.columns:
            raise KeyError(f"gaps lacks column {col!r}")
    g = gaps
    if suspicious_only:
        s = _suspicious(gaps)
        if s is None:
            raise KeyError("suspicious_only=True needs a 'suspicious' column in gaps")
        g = gaps[s.to_numpy()]
    lon = g["start_lon"].to_numpy(dtype="float64", na_value=np.nan)
    lat = g["start_lat"].to_numpy(dtype="float64", na_value=np.nan)
    all_lon = gaps["start_lon"].to_numpy(dtype="float64", na_value=np.nan)
    all_lat = gaps["start_lat"].to_numpy(dtype="float64", na_value=np.nan)
    ext, water_geom = _resolve_extent(all_lon, all_lat, water, extent)
    fig, ax = _new_figure(figsize or _map_figsize(ext, 1.0), ax)
    _draw_base(ax, ext, water_geom)
    if tracks is not None:
        from caspian_ais.trajectories import as_tracks

        tx, ty, lx, ly, _ = _track_lines(as_tracks(tracks), 200_000, 6.0)
        ax.plot(tx, ty, color="#9AA5AF", lw=0.4, alpha=0.6, rasterized=True, zorder=1)
        ax.scatter(lx, ly, s=2, color="#9AA5AF", alpha=0.7, linewidths=0, rasterized=True, zorder=1)
    x0, x1, y0, y1 = ext
    mid = math.radians((y0 + y1) / 2)
    if cell_km is None:
        width_km = (x1 - x0) * _KM_PER_DEG * max(math.cos(mid), 0.05)
        cell_km = _nice_cell_km(width_km / 25.0)
    dlon = cell_km / (_KM_PER_DEG * max(math.cos(mid), 0.05))
    dlat = cell_km / _KM_PER_DEG
    xe = np.arange(x0, x1 + dlon, dlon)
    ye = np.arange(y0, y1 + dlat, dlat)
    ok = np.isfinite(lon) & np.isfinite(lat)
    counts, _, _ = np.histogram2d(lon[ok], lat[ok], bins=[xe, ye])
    counts = np.ma.masked_equal(counts.T, 0)
    vmax = float(counts.max()) if counts.count() else 1.0
    norm = (
        LogNorm(vmin=1, vmax=max(vmax, 2))
        if vmax >= 30
        else Normalize(vmin=0.5, vmax=max(vmax, 1) + 0.5)
    )
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    # YlOrRd without its palest end, which would vanish on the water colour
    cmap = ListedColormap(colormaps["YlOrRd"](np.linspace(0.28, 1.0, 256)))
    mesh = ax.pcolormesh(
        xe,
        ye,
        counts,
        cmap=cmap,
        norm=norm,
        alpha=0.9,
        zorder=2,
        edgecolors="none",
        rasterized=True,
    )
    port_df = _ports_frame(ports, ext)
    _draw_ports(ax, port_df)
    _finish_map(ax, ext)
    # the colour bar in axes coordinates, so that it stays next to the (aspect-fixed) map
    cax = ax.inset_axes((1.03, 0.2, 0.035, 0.6))
    cb = fig.colorbar(mesh, cax=cax)
    cb.set_label(f"gaps starting in each {cell_km:g} km × {cell_km:g} km cell (count)", fontsize=9)
    if not isinstance(norm, LogNorm):
        ticks = MaxNLocator(integer=True, nbins=6).tick_values(1, max(vmax, 1))
        cb.set_ticks([v for v in ticks if 1 <= v <= max(vmax, 1)])
    kind = "suspicious gaps" if suspicious_only else "gaps"
    ax.set_title(
        title or f"Where AIS went silent: start positions of {kind}",
        loc="left",
        fontsize=12,
        fontweight="bold",
    )
    n = int(ok.sum())
    what = "suspicious gap" if suspicious_only else "gap"
    sub = f"{_plural(n, what)} · last position before each silence"
    if tracks is not None:
        sub += " · grey: AIS tracks"
    if "start_time" in g.columns and len(g):
        sub = _period_text(g["start_time"]) + " · " + sub
    ax.text(0.0, 1.005, sub, transform=ax.transAxes, fontsize=8.5, color="#444444", va="bottom")
    ax.set_title(
        ax.get_title(loc="left") + "\n" * (sub.count("\n") + 1),
        loc="left",
        fontsize=12,
        fontweight="bold",
    )
    if n == 0:
        ax.text(
            0.5,
            0.5,
            f"no {kind}",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#888888",
        )
    return fig
