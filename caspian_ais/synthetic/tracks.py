"""Vectorised generation of AIS reports from planned segments.

For one vessel and one month: report slots are laid on each segment at the thinned ITU rate
(``numpy.repeat`` and a running index, no per-row Python), positions are interpolated along
the route polylines by distance, noise is added, the reception model decides which slots
reach the dump, deliberate dark spells are masked out, and the data faults are applied.
The slots that were transmitted but not received also give the natural gaps of
``truth_reception_gaps.csv``, with their cause.

All randomness of a vessel-month comes from ``numpy.random.default_rng([seed, vessel_id,
month])``, so the output does not depend on how vessels are grouped or on the number of
worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caspian_ais.synthetic.behaviours import ANCHORED, DRIFT, MOORED, SAIL, RouteTable, VesselPlan
from caspian_ais.synthetic.reception import ReceptionModel, report_interval_s

__all__ = ["GenContext", "GapCarry", "ROW_SCHEMA", "vessel_month", "rows_to_table"]

#: 1/10000 minute of arc: the resolution of AIS positions, degrees.
AIS_POS_RES_DEG: float = 1.0 / 600_000.0
_M_PER_DEG = 111_195.0
#: Position noise (1-sigma, metres) by mode: GPS under way, moored, swinging at anchor, drifting.
_NOISE_M = {SAIL: 4.0, MOORED: 3.0, ANCHORED: 35.0, DRIFT: 25.0}

ROW_SCHEMA = pa.schema(
    [
        ("mmsi", pa.int64()),
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("sog_kn", pa.float64()),
        ("cog_deg", pa.float64()),
        ("heading_deg", pa.float64()),
        ("nav_status", pa.int16()),
        ("imo", pa.int64()),
        ("name", pa.string()),
        ("callsign", pa.string()),
        ("ship_type", pa.int16()),
        ("length_m", pa.float64()),
        ("draught_m", pa.float64()),
        ("destination", pa.string()),
        ("ais_class", pa.string()),
        ("flag_state", pa.string()),
    ]
)


@dataclass
class GenContext:
    """What every worker needs (picklable): routes, reception, static data, parameters."""

    routes: RouteTable
    reception: ReceptionModel
    static: dict[str, np.ndarray]  # by vessel_id: mmsi, imo, name, ... (object arrays for text)
    dest_text: np.ndarray  # destination text by port index
    thin_s: int
    seed: int
    gap_min_s: float
    host_of: dict[int, int] = field(default_factory=dict)  # ghost vessel_id -> host vessel_id
    plans: dict[int, VesselPlan] = field(default_factory=dict)


@dataclass
class GapCarry:
    """State of a vessel's open gap carried from one month to the next."""

    t: int = -1
    lat: float = np.nan
    lon: float = np.nan
    n_hole: int = 0
    n_outage: int = 0
    n_lost: int = 0


def _slots(
    seg: dict[str, np.ndarray], sel: np.ndarray, lo: int, hi: int, dt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Slot times (nominal) and their segment index, for segments ``sel`` clipped to [lo, hi)."""
    t0 = seg["t0"][sel]
    a = np.maximum(t0, lo)
    b = np.minimum(seg["t1"][sel], hi)
    first = t0 + -(-(a - t0) // dt) * dt
    n = np.maximum(0, -(-(b - first) // dt))
    total = int(n.sum())
    idx = np.repeat(np.arange(len(t0)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(total) - start
    t = first[idx] + k * dt[idx]
    return t.astype(np.int64), np.flatnonzero(sel)[idx]


def vessel_month(
    ctx: GenContext, plan: VesselPlan, month: int, lo: int, hi: int, carry: GapCarry | None
) -> tuple[dict[str, np.ndarray] | None, list[dict[str, Any]], GapCarry]:
    """Generate one vessel's reports for ``[lo, hi)`` (Unix seconds).

    Parameters
    ----------
    ctx : GenContext
    plan : VesselPlan
    month : int
        Month number (used to seed the random stream).
    lo, hi : int
        Period, Unix seconds.
    carry : GapCarry or None
        Open-gap state from the previous month (None for ghosts: no gap truth).

    Returns
    -------
    rows : dict of numpy arrays, or None when the vessel sent nothing received
    gaps : list of dict
        Natural reception gaps that closed in this month.
    carry : GapCarry
    """
    vid = plan.vessel_id
    rng = np.random.default_rng([ctx.seed, 11, vid, month])
    st = ctx.static
    cls = str(st["ais_class"][vid])
    seg = plan.seg
    if plan.tx_window is not None:
        lo, hi = max(lo, plan.tx_window[0]), min(hi, plan.tx_window[1])
    gaps: list[dict[str, Any]] = []
    carry = carry if carry is not None else GapCarry()
    if hi <= lo or not len(seg.get("t0", [])):
        return None, gaps, carry
    sel = (seg["t1"] > lo) & (seg["t0"] < hi)
    if not sel.any():
        return None, gaps, carry
    mode_all = seg["mode"]
    speed_all = seg["speed"]
    moving_all = (mode_all == SAIL) | (mode_all == DRIFT)
    if cls == "B":
        moving_all = moving_all & (speed_all > 2.0)
    itu = report_interval_s(cls, moving_all, speed_all)
    dt_all = np.maximum(itu, ctx.thin_s) if ctx.thin_s > 0 else itu
    t_nom, si = _slots(seg, sel, lo, hi, dt_all[sel])
    n = len(t_nom)
    if n == 0:
        return None, gaps, carry
    dt = dt_all[si]
    n_tx = np.maximum(dt // itu[si], 1)
    jit = np.minimum(5, dt // 6)
    t = np.minimum(t_nom + (rng.random(n) * (jit + 1)).astype(np.int64), hi - 1)

    mode = mode_all[si]
    sail = mode == SAIL
    lat = seg["lat"][si].copy()
    lon = seg["lon"][si].copy()
    brg = np.zeros(n)
    if sail.any():
        k = np.flatnonzero(sail)
        s_t0, s_t1 = seg["t0"][si[k]], seg["t1"][si[k]]
        d0, d1 = seg["d0"][si[k]], seg["d1"][si[k]]
        frac = np.clip((t[k] - s_t0) / np.maximum(s_t1 - s_t0, 1), 0.0, 1.0)
        la, lo_, b = ctx.routes.position(seg["route"][si[k]], d0 + frac * (d1 - d0))
        lat[k], lon[k], brg[k] = la, lo_, b
    noise_m = np.select(
        [mode == SAIL, mode == MOORED, mode == ANCHORED],
        [_NOISE_M[SAIL], _NOISE_M[MOORED], _NOISE_M[ANCHORED]],
        _NOISE_M[DRIFT],
    )
    coslat = np.cos(np.radians(lat))
    true_lat, true_lon = lat, lon
    rep_lat = lat + rng.standard_normal(n) * noise_m / _M_PER_DEG
    rep_lon = lon + rng.standard_normal(n) * noise_m / (_M_PER_DEG * coslat)

    speed = speed_all[si]
    sog = np.where(
        sail,
        speed * (1.0 + 0.02 * rng.standard_normal(n)) + 0.1 * rng.standard_normal(n),
        np.select(
            [mode == MOORED, mode == ANCHORED],
            [np.abs(0.03 * rng.standard_normal(n)), np.abs(0.1 * rng.standard_normal(n))],
            np.abs(0.3 + 0.15 * rng.standard_normal(n)),
        ),
    )
    sog = np.maximum(sog, 0.0)
    # a stationary GPS keeps its last course over ground for a while (56 % of consecutive
    # moored reports repeat it in MarineCadastre data), then jumps to another value
    rnd = rng.random(n) * 360.0
    fresh = (rng.random(n) > 0.55) | np.r_[True, si[1:] != si[:-1]]
    rnd = rnd[np.maximum.accumulate(np.where(fresh, np.arange(n), 0))]
    cog = np.where(sail, brg + 1.5 * rng.standard_normal(n), rnd)
    hdg_noise = np.select([sail, mode == MOORED, mode == ANCHORED], [2.0, 0.3, 10.0], 5.0)
    hdg = np.where(sail, brg, seg["heading"][si]) + hdg_noise * rng.standard_normal(n)

    # --- reception and deliberate silence
    p, in_range, outage = ctx.reception.slot_probability(true_lat, true_lon, t, n_tx, cls, dt)
    rx = rng.random(n) < p
    dark = np.zeros(n, dtype=bool)
    if plan.spells:
        off = np.array([s[0] for s in plan.spells], dtype=np.int64)
        on = np.array([s[1] for s in plan.spells], dtype=np.int64)
        j = np.searchsorted(off, t, side="right") - 1
        dark = (j >= 0) & (t <= on[np.maximum(j, 0)])
    keep = rx & ~dark

    # --- natural gap truth (physical vessels only)
    if plan.tx_window is None:
        gaps, carry = _gaps(ctx, plan, t, keep, dark, in_range, outage, true_lat, true_lon, carry)

    # --- rows
    idx = np.flatnonzero(keep)
    rows = {
        "t": t[idx],
        "lat": rep_lat[idx],
        "lon": rep_lon[idx],
        "sog": sog[idx],
        "cog": cog[idx],
        "hdg": hdg[idx],
        "nav": seg["nav"][si[idx]],
        "draught": seg["draught"][si[idx]],
        "dest": seg["dest"][si[idx]],
        "emit": t[idx].astype(np.float64),
        "vid": np.full(len(idx), vid),
    }
    _faults(ctx, plan, rows, rng, t, si, seg, lo, hi)
    if not len(rows["t"]):
        return None, gaps, carry
    return rows, gaps, carry


def _gaps(
    ctx: GenContext,
    plan: VesselPlan,
    t: np.ndarray,
    keep: np.ndarray,
    dark: np.ndarray,
    in_range: np.ndarray,
    outage: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    carry: GapCarry,
) -> tuple[list[dict[str, Any]], GapCarry]:
    lost = ~keep & ~dark
    hole = lost & ~in_range
    out = lost & outage
    c_hole = np.concatenate([[0], np.cumsum(hole)])
    c_out = np.concatenate([[0], np.cumsum(out)])
    c_lost = np.concatenate([[0], np.cumsum(lost)])
    rx = np.flatnonzero(keep)
    gaps: list[dict[str, Any]] = []
    if len(rx) == 0:
        carry.n_hole += int(c_hole[-1])
        carry.n_outage += int(c_out[-1])
        carry.n_lost += int(c_lost[-1])
        return gaps, carry
    # gap k runs from received slot rx[k-1] (or the carry) to rx[k]
    prev_t = np.r_[carry.t, t[rx[:-1]]]
    prev_lat = np.r_[carry.lat, lat[rx[:-1]]]
    prev_lon = np.r_[carry.lon, lon[rx[:-1]]]
    a = np.r_[0, rx[:-1] + 1]
    n_hole = c_hole[rx] - c_hole[a] + np.r_[carry.n_hole, np.zeros(len(rx) - 1, dtype=int)]
    n_out = c_out[rx] - c_out[a] + np.r_[carry.n_outage, np.zeros(len(rx) - 1, dtype=int)]
    n_lost = c_lost[rx] - c_lost[a] + np.r_[carry.n_lost, np.zeros(len(rx) - 1, dtype=int)]
    dur = t[rx] - prev_t
    cand = np.flatnonzero((prev_t >= 0) & (dur >= ctx.gap_min_s))
    if len(cand) and plan.spells:
        off = np.array([s[0] for s in plan.spells], dtype=np.int64)
        on = np.array([s[1] for s in plan.spells], dtype=np.int64)
        # a gap that overlaps a deliberate spell is not a natural one
        j = np.searchsorted(off, t[rx[cand]], side="left") - 1
        overlap = (j >= 0) & (on[np.maximum(j, 0)] >= prev_t[cand])
        cand = cand[~overlap]
    changes = sorted((f["t0"], f["alias"]) for f in plan.faults if f["kind"] == "identity")
    for k in cand:
        nh, no, nl = int(n_hole[k]), int(n_out[k]), int(n_lost[k])
        ident = plan.vessel_id  # the identity in use when the gap closed
        for t0, alias in changes:
            if t[rx[k]] >= t0:
                ident = alias
        if no > 0 and no >= nh:
            cause = "station_outage"
        elif nh > 0 and nh >= 0.5 * nl:
            cause = "coverage_hole"
        elif nh + no > 0:
            cause = "mixed"
        else:
            cause = "reception_loss"
        gaps.append(
            {
                "vessel_id": plan.vessel_id,
                "mmsi": int(ctx.static["mmsi"][ident]),
                "start_s": int(prev_t[k]),
                "end_s": int(t[rx[k]]),
                "cause": cause,
                "start_lat": float(prev_lat[k]),
                "start_lon": float(prev_lon[k]),
                "end_lat": float(lat[rx[k]]),
                "end_lon": float(lon[rx[k]]),
                "slots_missed": nl,
                "slots_out_of_range": nh,
                "slots_station_outage": no,
            }
        )
    last = rx[-1]
    carry = GapCarry(
        int(t[last]),
        float(lat[last]),
        float(lon[last]),
        int(c_hole[-1] - c_hole[last + 1]),
        int(c_out[-1] - c_out[last + 1]),
        int(c_lost[-1] - c_lost[last + 1]),
    )
    return gaps, carry


def _faults(
    ctx: GenContext,
    plan: VesselPlan,
    rows: dict[str, np.ndarray],
    rng: np.random.Generator,
    t_all: np.ndarray,
    si_all: np.ndarray,
    seg: dict[str, np.ndarray],
    lo: int,
    hi: int,
) -> None:
    """Apply identity changes, spoofing, frozen positions, teleports, positions on land,
    duplicates and out-of-order delays to the rows, in place."""
    if not plan.faults:
        return
    t = rows["t"]
    changes = sorted((f["t0"], f["alias"]) for f in plan.faults if f["kind"] == "identity")

    def identity(ts: np.ndarray) -> np.ndarray:
        """Static identity (vessel id or alias id) in use at times ``ts``."""
        out = np.full(len(ts), plan.vessel_id, dtype=np.int64)
        for t0, alias in changes:
            out = np.where(ts >= t0, alias, out)
        return out

    if changes:  # identity changes first: copies below keep the identity
        rows["vid_static"] = identity(t)
    extra: list[dict[str, np.ndarray]] = []
    for f in plan.faults:
        if f["t1"] < lo or f["t0"] >= hi:
            continue
        kind = f["kind"]
        m = (t >= f["t0"]) & (t <= f["t1"])
        if kind == "frozen":
            rows["lat"] = np.where(m, f["lat"], rows["lat"])
            rows["lon"] = np.where(m, f["lon"], rows["lon"])
        elif kind == "spoofing":
            rows["lat"] = np.where(m, rows["lat"] + f["dlat"], rows["lat"])
            rows["lon"] = np.where(m, rows["lon"] + f["dlon"], rows["lon"])
        elif kind == "out_of_order":
            rows["emit"] = np.where(m, rows["emit"] + f["delay"], rows["emit"])
        elif kind == "duplicates":
            pick = np.flatnonzero(m & (rng.random(len(t)) < f["p"]))
            if len(pick):
                extra.append({k: v[pick] for k, v in rows.items()})
        elif kind in ("teleport", "on_land"):
            ts = f["t0"] + 60 * np.arange(f["n"])
            ts = ts[(ts >= lo) & (ts < hi)]
            if not len(ts) or not len(t_all):
                continue
            near = np.clip(np.searchsorted(t_all, ts), 0, len(t_all) - 1)
            sj = si_all[near]
            add = {
                "t": ts.astype(np.int64),
                "lat": f["lat"] + rng.standard_normal(len(ts)) * 10.0 / _M_PER_DEG,
                "lon": f["lon"] + rng.standard_normal(len(ts)) * 10.0 / _M_PER_DEG,
                "sog": np.where(seg["mode"][sj] == SAIL, seg["speed"][sj], 0.0),
                "cog": rng.random(len(ts)) * 360.0,
                "hdg": rng.random(len(ts)) * 360.0,
                "nav": seg["nav"][sj],
                "draught": seg["draught"][sj],
                "dest": seg["dest"][sj],
                "emit": ts.astype(np.float64),
                "vid": np.full(len(ts), plan.vessel_id),
            }
            if changes:
                add["vid_static"] = identity(add["t"])
            extra.append(add)
    if extra:
        for k in rows:
            rows[k] = np.concatenate([rows[k], *[e[k] for e in extra]])


def _ghost_identity(ctx: GenContext, rows: dict[str, np.ndarray]) -> None:
    """Ghost rows take their host's MMSI and static data (draught, destination at that time)."""
    host = ctx.host_of.get(int(rows["vid"][0])) if len(rows["vid"]) else None
    if host is None:
        return
    hp = ctx.plans[host].seg
    j = np.clip(np.searchsorted(hp["t0"], rows["t"], side="right") - 1, 0, len(hp["t0"]) - 1)
    rows["draught"] = hp["draught"][j]
    rows["dest"] = hp["dest"][j]
    rows["vid_static"] = np.full(len(rows["t"]), host)


def _quantise(x: np.ndarray, res: float) -> np.ndarray:
    return np.round(x / res) * res


def rows_to_table(ctx: GenContext, parts: list[dict[str, np.ndarray]]) -> pa.Table:
    """Turn generated rows of several vessels into a canonical Arrow table.

    Values are quantised to AIS resolution (1/10000 minute for positions, 0.1 kn, 0.1 deg,
    whole-degree heading, 0.1 m draught); rows are ordered by MMSI and by the time they are
    written (out-of-order rows come late).
    """
    for r in parts:
        if r.get("vid") is not None and len(r["vid"]) and int(r["vid"][0]) in ctx.host_of:
            _ghost_identity(ctx, r)
    if not parts:
        return ROW_SCHEMA.empty_table()
    cat = {
        k: np.concatenate([p[k] for p in parts])
        for k in ("t", "lat", "lon", "sog", "cog", "hdg", "nav", "draught", "dest", "emit", "vid")
    }
    vs = np.concatenate([p.get("vid_static", p["vid"]) for p in parts])
    st = ctx.static
    mmsi = st["mmsi"][vs]
    order = np.lexsort((cat["t"], cat["emit"], mmsi))
    vs = vs[order]
    mmsi = mmsi[order]
    c = {k: v[order] for k, v in cat.items()}
    is_b = st["ais_class"][vs] == "B"
    lat = _quantise(c["lat"], AIS_POS_RES_DEG)
    lon = _quantise(c["lon"], AIS_POS_RES_DEG)
    sog = np.round(c["sog"], 1)
    cog = np.round(np.mod(c["cog"], 360.0), 1)
    cog = np.where(cog >= 360.0, 0.0, cog)
    hdg = np.mod(np.round(c["hdg"]), 360.0)
    hdg = np.where(is_b, np.nan, hdg)
    nav = pa.array(c["nav"].astype(np.int16), mask=is_b)
    draught = np.where(is_b, np.nan, np.round(c["draught"], 1))
    dest_idx = c["dest"].astype(np.int64)
    dest_ok = (~is_b) & (dest_idx >= 0)
    dest = pc.take(pa.array(ctx.dest_text, pa.string()), pa.array(np.where(dest_ok, dest_idx, 0)))
    dest = pc.if_else(pa.array(dest_ok), dest, pa.nulls(len(dest_ok), pa.string()))
    take = pa.array(vs)

    def text(col: str) -> pa.Array:
        return pc.take(pa.array(st[col], pa.string(), from_pandas=True), take)

    imo_v = st["imo"][vs]
    cols = {
        "mmsi": pa.array(mmsi.astype(np.int64)),
        "timestamp": pa.array(
            c["t"].astype(np.int64) * 1_000_000_000, pa.timestamp("ns", tz="UTC")
        ),
        "lat": pa.array(lat),
        "lon": pa.array(lon),
        "sog_kn": pa.array(sog),
        "cog_deg": pa.array(cog),
        "heading_deg": pa.array(hdg, from_pandas=True),
        "nav_status": nav,
        "imo": pa.array(imo_v.astype(np.int64), mask=imo_v <= 0),
        "name": text("name"),
        "callsign": text("callsign"),
        "ship_type": pa.array(st["ship_type"][vs].astype(np.int16)),
        "length_m": pa.array(st["length_m"][vs].astype(np.float64)),
        "draught_m": pa.array(draught, from_pandas=True),
        "destination": dest,
        "ais_class": text("ais_class"),
        "flag_state": text("flag_state"),
    }
    return pa.Table.from_arrays([cols[f.name] for f in ROW_SCHEMA], schema=ROW_SCHEMA)
