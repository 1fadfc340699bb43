"""The reception model from partitioned tracks, identical to the in-memory one.

:func:`caspian_ais.reception.build_reception_model` looks at all vessels at once: the
quality of a cell-month counts the vessels heard there, and the occupancy grids (for
co-silence) record in which hours *some* vessel was heard in a cell. When the tracks
are partitioned by vessel (every vessel's rows in one partition), both are sums of
per-partition parts:

1. :func:`quality_part` (per partition): per cell-month, the reports, the vessels
   present, the vessels well heard, heard and missed hours; the distinct report cells;
   the time range. Vessel sets of partitions are disjoint, so the global counts are the
   sums of the partitions' counts.
2. :func:`merge_quality` (once): the cell-month table and quality lookup, the time bins.
3. :func:`occupancy_part` (per partition): per occupied (cell, time bin), how many
   distinct vessels were heard there, and which one when only one was; the same on the
   coarse grid for reports in poorly covered water (which needs step 2's quality).
4. :func:`merge_model` (once): the occupancy grids and the final
   :class:`~caspian_ais.reception.ReceptionModel`.

The per-row arithmetic is :mod:`caspian_ais.reception`'s (its helpers are reused); the
result equals ``build_reception_model(all_tracks)`` in every field used by
:func:`caspian_ais.reception.score_gaps` (the integer counts and the quality exactly;
the informational ``heard_h``/``missed_h`` sums of ``model.cells`` to rounding, as
floating-point sums taken in another order). ``tests/test_batch.py`` checks it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.reception import (
    ReceptionModel,
    _missed_cells,
    _month_index,
    _Occupancy,
    _sorted_order,
    build_reception_model,
    cell_ids,
)

__all__ = ["BuildOptions", "quality_part", "merge_quality", "occupancy_part", "merge_model",
           "build_options"]

_NS_PER_H = 3_600_000_000_000


_BUILD_SIGNATURE = inspect.signature(build_reception_model).parameters
_BUILD_PARAMS = frozenset(k for k in _BUILD_SIGNATURE if k not in ("tracks", "order"))
_HAS_PASSES = "pass_bin_min" in _BUILD_PARAMS
_HAS_INTERVAL = "report_interval_s" in _BUILD_PARAMS
#: speed from which an interval counts as "under way" in the model's own estimate
_MOVING_KN = 3.0


class BuildOptions:
    """The options of :func:`caspian_ais.reception.build_reception_model`, defaults
    included (read from its signature, so that they cannot drift apart)."""

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - _BUILD_PARAMS
        if unknown:
            raise TypeError(f"unknown reception model option(s) {sorted(unknown)}")
        kw = {k: _BUILD_SIGNATURE[k].default for k in _BUILD_PARAMS}
        kw.update(options)
        self.__dict__["kw"] = kw

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["kw"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"BuildOptions({self.kw!r})"

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for build_reception_model."""
        return dict(self.kw)

    def with_interval(self, report_interval_s: float) -> BuildOptions:
        """These options with the run-wide reporting interval filled in."""
        out = BuildOptions(**self.kw)
        if _HAS_INTERVAL:
            out.kw["report_interval_s"] = report_interval_s
        return out

    def scaled(self) -> tuple[float, float]:
        """``(heard_max_h, pass_bin_min)`` as the model uses them (scaled to the data's
        reporting interval, where this version of the model does that)."""
        heard, pass_bin = self.kw["heard_max_h"], self.kw.get("pass_bin_min", 10.0)
        if _HAS_INTERVAL and self.kw.get("report_interval_s") is not None:
            from caspian_ais.reception import scaled_for_interval

            extra = ({"heard_max_intervals": self.kw["heard_max_intervals"]}
                     if "heard_max_intervals" in self.kw else {})
            heard, pass_bin = scaled_for_interval(
                float(self.kw["report_interval_s"]), heard_max_h=heard,
                pass_bin_min=pass_bin, **extra)
        return heard, pass_bin


def build_options(options: dict[str, Any]) -> BuildOptions:
    """BuildOptions from detect_gaps keyword options (other keys are ignored)."""
    return BuildOptions(**{k: v for k, v in options.items() if k in _BUILD_PARAMS})


def _arrays(tracks: pd.DataFrame) -> tuple[np.ndarray, ...]:
    mmsi = tracks["mmsi"].to_numpy(dtype=np.int64)
    ts = tracks["timestamp"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    t_ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    lat = tracks["lat"].to_numpy(dtype=np.float64)
    lon = tracks["lon"].to_numpy(dtype=np.float64)
    return mmsi, t_ns, lat, lon


def quality_part(tracks: pd.DataFrame, opts: BuildOptions,
                 order: np.ndarray | None = None) -> dict[str, Any]:
    """Step 1 on one partition (all rows of its vessels)."""
    mmsi, t_ns, lat, lon = _arrays(tracks)
    n = mmsi.size
    if n == 0:
        return {"n": 0}
    if order is None:
        order = _sorted_order(mmsi, t_ns)
    cell_deg = opts.cell_deg
    cid = cell_ids(lat, lon, cell_deg)
    mon = _month_index(t_ns)
    m0 = int(mon.min())
    ckey = cid * 4096 + (mon - m0)
    ckey[cid < 0] = -1
    om = mmsi[order]
    ot = t_ns[order]
    same = om[1:] == om[:-1]
    del om
    dt = ot[1:] - ot[:-1]
    del ot
    heard_ns = int(opts.scaled()[0] * _NS_PER_H)
    vcode = pd.factorize(mmsi)[0].astype(np.int64)
    nv = int(vcode.max()) + 1
    h_sel = np.flatnonzero(same & (dt > 0) & (dt <= heard_ns))
    h_rows = order[h_sel]
    h_key = ckey[h_rows] * nv + vcode[h_rows]
    h_w = dt[h_sel] / _NS_PER_H
    m_idx = np.flatnonzero(same & (dt > heard_ns) & (dt < int(opts.max_interval_h * _NS_PER_H)))
    m_dt = dt[m_idx] / _NS_PER_H
    del same, dt, h_sel
    a_rows, b_rows = order[m_idx], order[m_idx + 1]
    mi, mc = _missed_cells(lat[a_rows], lon[a_rows], lat[b_rows], lon[b_rows], cell_deg)
    n_cells = np.bincount(mi, minlength=m_idx.size)
    m_key = np.where(mc >= 0, (mc * 4096 + (mon[a_rows][mi] - m0)) * nv + vcode[a_rows][mi], -1)
    m_w = m_dt[mi] / np.maximum(n_cells[mi], 1)
    r_key = np.where(ckey >= 0, ckey * nv + vcode, -1)
    allk = np.concatenate([r_key, h_key, m_key])
    codes, uniq = pd.factorize(allk)
    uniq = np.asarray(uniq, dtype=np.int64)
    nk = uniq.size
    n_r, n_h = r_key.size, h_key.size
    heard_h = np.bincount(codes[n_r:n_r + n_h], weights=h_w, minlength=nk)
    missed_h = np.bincount(codes[n_r + n_h:], weights=m_w, minlength=nk)
    n_rep = np.bincount(codes[:n_r], minlength=nk)
    del allk, codes, r_key, h_key, m_key
    cm = np.where(uniq >= 0, uniq // nv, -1)
    well = heard_h >= missed_h
    ccodes, cuniq = pd.factorize(cm)
    cuniq = np.asarray(cuniq, dtype=np.int64)
    nc = cuniq.size
    keep = cuniq >= 0
    valid = cid >= 0
    return {
        "n": n,
        "cell": (cuniq // 4096)[keep],
        "month": (cuniq % 4096 + m0)[keep],
        "reports": np.bincount(ccodes, weights=n_rep, minlength=nc).astype(np.int64)[keep],
        "vessels": np.bincount(ccodes, minlength=nc).astype(np.int64)[keep],
        "well_heard": np.bincount(ccodes, weights=well, minlength=nc).astype(np.int64)[keep],
        "heard_h": np.bincount(ccodes, weights=heard_h, minlength=nc)[keep],
        "missed_h": np.bincount(ccodes, weights=missed_h, minlength=nc)[keep],
        "report_cells": np.unique(cid[valid]),
        "t_lo": int(t_ns.min()),
        "t_hi": int(t_ns.max()),
    }


@dataclass
class QualityTable:
    """The merged step-1 result: what every partition needs for step 3."""

    opts: BuildOptions
    n: int
    cells: pd.DataFrame
    cell_keys: np.ndarray
    quality: np.ndarray
    t_lo: int
    t_hi: int
    bin_h: float
    n_bins: int
    prior: float = field(default=0.5)

    def quality_at(self, lat: np.ndarray, lon: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
        cid = cell_ids(lat, lon, self.opts.cell_deg)
        key = cid * 100_000 + (_month_index(t_ns) + 10_000)
        if self.cell_keys.size == 0:
            return np.full(key.shape, self.prior)
        pos = np.clip(np.searchsorted(self.cell_keys, key), 0, self.cell_keys.size - 1)
        found = self.cell_keys[pos] == key
        return np.where(found & (cid >= 0), self.quality[pos], self.prior)


def merge_quality(parts: list[dict[str, Any]], opts: BuildOptions) -> QualityTable:
    """Step 2: sum the partitions' cell-month counts into the model's cell table."""
    parts = [p for p in parts if p.get("n", 0)]
    n = sum(int(p["n"]) for p in parts)
    prior = opts.prior_heard / (opts.prior_heard + opts.prior_missed)
    if n == 0:
        return QualityTable(opts, 0, pd.DataFrame(), np.zeros(0, np.int64), np.zeros(0),
                            0, 0, opts.bin_h, 1, prior)
    cols = ("reports", "vessels", "well_heard", "heard_h", "missed_h")
    cat = {c: np.concatenate([p[c] for p in parts]) for c in ("cell", "month", *cols)}
    key = cat["cell"] * 100_000 + (cat["month"] + 10_000)
    codes, uniq = pd.factorize(key, sort=True)
    uniq = np.asarray(uniq, dtype=np.int64)
    k = uniq.size
    sums = {c: np.bincount(codes, weights=cat[c], minlength=k) for c in cols}
    table = pd.DataFrame({
        "cell": uniq // 100_000,
        "month": uniq % 100_000 - 10_000,
        "reports": sums["reports"].astype(np.int64),
        "vessels": sums["vessels"].astype(np.int64),
        "well_heard": sums["well_heard"].astype(np.int64),
        "heard_h": sums["heard_h"],
        "missed_h": sums["missed_h"],
    })
    table["quality"] = (table["well_heard"] + opts.prior_heard) / (
        table["vessels"] + opts.prior_heard + opts.prior_missed)
    t_lo = min(int(p["t_lo"]) for p in parts)
    t_hi = max(int(p["t_hi"]) for p in parts)
    months = np.unique(table["month"].to_numpy())
    m_start = months.astype("datetime64[M]").astype("datetime64[ns]").view(np.int64)
    m_end = (months + 1).astype("datetime64[M]").astype("datetime64[ns]").view(np.int64)
    hours = (np.minimum(m_end, t_hi) - np.maximum(m_start, t_lo)) / _NS_PER_H
    hours_s = pd.Series(np.maximum(hours, 1.0), index=months)
    table["reports_per_h"] = table["reports"] / table["month"].map(hours_s).to_numpy()
    n_cols = int(np.ceil(360.0 / opts.cell_deg)) + 1
    row, col = np.divmod(table["cell"].to_numpy(), n_cols)
    table.insert(2, "lat", (row + 0.5) * opts.cell_deg - 90.0)
    table.insert(3, "lon", (col + 0.5) * opts.cell_deg - 180.0)
    cell_keys = uniq  # sorted: factorize(sort=True)
    quality = table["quality"].to_numpy()
    table["month"] = table["month"].to_numpy().astype("datetime64[M]").astype(str)
    table = table.sort_values(["month", "cell"], ignore_index=True)
    # time bins of the occupancy grid, widened as build_reception_model does
    span_h = (t_hi - t_lo) / _NS_PER_H
    n_occ = int(np.unique(np.concatenate([p["report_cells"] for p in parts])).size)
    bin_h = opts.bin_h
    n_bins = int(np.floor(span_h / bin_h)) + 1
    while n_occ * (n_bins + 1) > opts.max_bins and n_bins > 1:
        bin_h *= 2.0
        n_bins = int(np.floor(span_h / bin_h)) + 1
    return QualityTable(opts, n, table, cell_keys, quality, t_lo, t_hi, bin_h, n_bins, prior)


def _distinct_cell_bins(cid: np.ndarray, tb: np.ndarray, mmsi: np.ndarray, n_bins: int
                        ) -> dict[str, np.ndarray]:
    """Per occupied (cell, bin): distinct vessels, and the vessel when it was alone."""
    if cid.size == 0:
        e = np.zeros(0, np.int64)
        return {"cb": e, "n_v": e, "alone": e}
    cb = cid * n_bins + tb
    pairs = pd.DataFrame({"cb": cb, "v": mmsi}).drop_duplicates()
    grp = pairs.groupby("cb", sort=True)["v"]
    n_v = grp.size()
    first = grp.first()
    return {"cb": n_v.index.to_numpy(dtype=np.int64), "n_v": n_v.to_numpy(dtype=np.int64),
            "alone": np.where(n_v.to_numpy() == 1, first.to_numpy(dtype=np.int64), -1)}


def occupancy_part(tracks: pd.DataFrame, q: QualityTable) -> dict[str, Any]:
    """Step 3 on one partition: its share of the local and the coarse occupancy grids."""
    mmsi, t_ns, lat, lon = _arrays(tracks)
    if mmsi.size == 0:
        e = {"cb": np.zeros(0, np.int64), "n_v": np.zeros(0, np.int64),
             "alone": np.zeros(0, np.int64)}
        return {"local": e, "wide": e, "pass_bins": np.zeros(0, np.int64),
                "pass_counts": np.zeros(0, np.int64)}
    opts = q.opts
    cid = cell_ids(lat, lon, opts.cell_deg)
    valid = cid >= 0
    bin_ns = int(round(q.bin_h * _NS_PER_H))
    tb = (t_ns - q.t_lo) // bin_ns
    local = _distinct_cell_bins(cid[valid], tb[valid], mmsi[valid], q.n_bins)
    row_quality = q.quality_at(lat, lon, t_ns)
    poor = valid & (row_quality < opts.poor_quality)
    wcid = cell_ids(lat[poor], lon[poor], opts.wide_cell_deg)
    wide = _distinct_cell_bins(wcid, tb[poor], mmsi[poor], q.n_bins)
    out: dict[str, Any] = {"local": local, "wide": wide}
    if _HAS_PASSES:
        # satellite passes: distinct vessels heard in poorly covered water per pass bin
        w = int(round(opts.scaled()[1] * 60e9))
        pb = pd.DataFrame({"b": (t_ns[poor] - q.t_lo) // w, "v": mmsi[poor]})
        cnt = pb.drop_duplicates().groupby("b", sort=True).size()
        out["pass_bins"] = cnt.index.to_numpy(dtype=np.int64)
        out["pass_counts"] = cnt.to_numpy(dtype=np.int64)
    return out


def _occupancy(parts: list[dict[str, np.ndarray]], n_bins: int) -> _Occupancy:
    shift = 34
    cb = np.concatenate([p["cb"] for p in parts]) if parts else np.zeros(0, np.int64)
    if cb.size == 0:
        e = np.zeros(0, np.int64)
        return _Occupancy(e, np.zeros((0, n_bins + 1), np.int64), n_bins, e, e, shift)
    n_v = np.concatenate([p["n_v"] for p in parts])
    alone = np.concatenate([p["alone"] for p in parts])
    codes, ucb = pd.factorize(cb, sort=True)
    ucb = np.asarray(ucb, dtype=np.int64)
    tot = np.bincount(codes, weights=n_v, minlength=ucb.size).astype(np.int64)
    # the one vessel of a (cell, bin) heard by exactly one: the single part with n_v == 1
    solo_v = np.full(ucb.size, -1, dtype=np.int64)
    one = n_v == 1
    solo_v[codes[one]] = alone[one]
    cell_of = ucb // n_bins
    bin_of = ucb % n_bins
    cells, ccode = np.unique(cell_of, return_inverse=True)
    occ = np.zeros(cells.size * n_bins, dtype=np.int64)
    occ[ccode * n_bins + bin_of] = 1
    cum = np.zeros((cells.size, n_bins + 1), dtype=np.int64)
    np.cumsum(occ.reshape(cells.size, n_bins), axis=1, out=cum[:, 1:])
    is_solo = tot == 1
    v_alone = solo_v[is_solo]
    c_alone = cell_of[is_solo]
    sk = np.sort((v_alone % (1 << (63 - shift))) * (1 << shift) + c_alone)
    s0 = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]]) if sk.size else sk
    return _Occupancy(cells, cum, n_bins, sk[s0], np.diff(np.r_[s0, sk.size]), shift)


def merge_model(q: QualityTable, parts: list[dict[str, Any]]) -> ReceptionModel:
    """Step 4: the reception model of all partitions together."""
    opts = q.opts
    if q.n == 0:
        empty = pd.DataFrame({"mmsi": pd.Series([], dtype="int64"),
                              "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
                              "lat": pd.Series([], dtype="float64"),
                              "lon": pd.Series([], dtype="float64")})
        return build_reception_model(empty, **opts.build_kwargs())
    local = _occupancy([p["local"] for p in parts], q.n_bins)
    wide = _occupancy([p["wide"] for p in parts], q.n_bins)
    extra: dict[str, Any] = {}
    heard_h, pass_bin = opts.scaled()
    if _HAS_PASSES:
        extra = dict(zip(("pass_start_ns", "pass_end_ns"), _passes(parts, q), strict=True),
                     pass_bin_min=pass_bin, pass_min_vessels=opts.pass_min_vessels)
    if _HAS_INTERVAL:
        ri = opts.kw.get("report_interval_s")
        extra["report_interval_s"] = float("nan") if ri is None else float(ri)
    return ReceptionModel(
        cells=q.cells,
        cell_deg=opts.cell_deg,
        heard_max_h=heard_h,
        max_interval_h=opts.max_interval_h,
        prior_heard=opts.prior_heard,
        prior_missed=opts.prior_missed,
        bin_h=q.bin_h,
        t0_ns=q.t_lo,
        _cell_keys=q.cell_keys,
        _quality=q.quality,
        wide_cell_deg=opts.wide_cell_deg,
        poor_quality=opts.poor_quality,
        _local=local,
        _wide=wide,
        **extra,
    )


def _passes(parts: list[dict[str, Any]], q: QualityTable) -> tuple[np.ndarray, np.ndarray]:
    """Satellite passes from the partitions' pass-bin vessel counts (as the model does)."""
    e = np.zeros(0, np.int64)
    bins = np.concatenate([p.get("pass_bins", e) for p in parts]) if parts else e
    if bins.size == 0:
        return e, e
    counts = np.concatenate([p.get("pass_counts", e) for p in parts])
    w = int(round(q.opts.scaled()[1] * 60e9))
    nb = int(bins.max()) + 1
    count = np.bincount(bins, weights=counts, minlength=nb)
    hit = count >= q.opts.pass_min_vessels
    if not hit.any():
        return e, e
    prev = np.r_[False, hit[:-1]]
    nxt = np.r_[hit[1:], False]
    starts = np.flatnonzero(hit & ~prev)
    ends = np.flatnonzero(hit & ~nxt) + 1
    return starts.astype(np.int64) * w + q.t_lo, ends.astype(np.int64) * w + q.t_lo


# ---------------------------------------------------------------------------------------
# the run-wide reporting interval (median interval under way), exactly as the model does


def _intervals(tracks: pd.DataFrame, opts: BuildOptions
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vessel of each interval, its length (ns), qualifying and qualifying under way."""
    mmsi, t_ns, _, _ = _arrays(tracks)
    order = _sorted_order(mmsi, t_ns)
    om, ot = mmsi[order], t_ns[order]
    same = om[1:] == om[:-1]
    dt = ot[1:] - ot[:-1]
    ok = same & (dt > 0) & (dt < int(opts.max_interval_h * _NS_PER_H))
    if "sog_kn" in tracks:
        sog = tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)
        ok_m = ok & (sog[order[:-1]] >= _MOVING_KN)
    else:
        ok_m = np.zeros_like(ok)
    return om[:-1], dt, ok, ok_m


def interval_counts(tracks: pd.DataFrame, opts: BuildOptions) -> dict[str, np.ndarray]:
    """Per vessel of the partition: its qualifying intervals, all and under way."""
    v, _, ok, ok_m = _intervals(tracks, opts)
    if v.size == 0:
        e = np.zeros(0, np.int64)
        return {"mmsi": e, "n_ok": e, "n_ok_m": e}
    vessels, inv = np.unique(v, return_inverse=True)
    return {"mmsi": vessels,
            "n_ok": np.bincount(inv, weights=ok, minlength=vessels.size).astype(np.int64),
            "n_ok_m": np.bincount(inv, weights=ok_m, minlength=vessels.size).astype(np.int64)}


def interval_plan(parts: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Which intervals the run-wide median samples: every ``step``-th qualifying one in
    (mmsi, time) order, as :func:`caspian_ais.reception._median_interval` takes them."""
    from caspian_ais.reception import MEDIAN_SAMPLE, MIN_INTERVALS

    m = np.concatenate([p["mmsi"] for p in parts]) if parts else np.zeros(0, np.int64)
    n_ok = np.concatenate([p["n_ok"] for p in parts]) if parts else m
    n_ok_m = np.concatenate([p["n_ok_m"] for p in parts]) if parts else m
    o = np.argsort(m, kind="stable")
    m, n_ok, n_ok_m = m[o], n_ok[o], n_ok_m[o]
    moving = int(n_ok_m.sum()) >= MIN_INTERVALS
    counts = n_ok_m if moving else n_ok
    total = int(counts.sum())
    offsets = np.r_[0, np.cumsum(counts)[:-1]] if counts.size else counts
    return {"mmsi": m, "offset": offsets, "moving": moving, "total": total,
            "enough": total >= MIN_INTERVALS,
            "step": max(1, total // MEDIAN_SAMPLE)}


def interval_sample(tracks: pd.DataFrame, opts: BuildOptions, plan: dict[str, Any]
                    ) -> np.ndarray:
    """The partition's intervals (ns) that the run-wide median sample holds."""
    if not plan["enough"]:
        return np.zeros(0, np.int64)
    v, dt, ok, ok_m = _intervals(tracks, opts)
    use = ok_m if plan["moving"] else ok
    idx = np.flatnonzero(use)
    if idx.size == 0:
        return np.zeros(0, np.int64)
    vv = v[idx]
    # position of each qualifying interval within its vessel, then in the whole run
    first = np.r_[True, vv[1:] != vv[:-1]]
    start = np.flatnonzero(first)
    k = np.arange(idx.size) - np.repeat(start, np.diff(np.r_[start, idx.size]))
    off = plan["offset"][np.searchsorted(plan["mmsi"], vv)]
    pos = off + k
    return dt[idx[pos % plan["step"] == 0]]


def merge_interval(samples: list[np.ndarray], plan: dict[str, Any]) -> float:
    """The run-wide reporting interval, seconds (NaN when too few intervals)."""
    if not plan["enough"]:
        return float("nan")
    return float(np.median(np.concatenate(samples))) / 1e9
