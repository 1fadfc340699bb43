"""Reception model: how well vessels are normally heard in each place and period.

A gap in water where every passing vessel is heard every few minutes says more than a
gap in water where vessels routinely vanish for hours. Following Global Fishing Watch
(Welch et al. 2022: a monthly 1-degree reception map learned from the AIS itself) and
Hammond & Peters (2012: a Bayesian binomial estimate of coverage on a grid), the model
learns two things from the tracks, with no external receiver list:

*Reception quality* per grid cell and month. Every interval between two consecutive
reports of a vessel is *heard* time when it is at most ``heard_max_h`` long and *missed*
time when it is longer. Heard time counts for the cell of the interval's first report;
missed time is spread evenly over the cells on the straight line between the two reports
(the vessel crossed them unheard). A vessel is *well heard* in a cell and month when its
heard time there is at least its missed time. The quality is the posterior mean share of
well-heard vessels, ``(well_heard + prior_heard) / (vessels + prior_heard +
prior_missed)``. Counting vessels rather than hours keeps the few vessels that switch off
deliberately from dragging a busy port approach down, while a coverage hole (where every
vessel is heard only in bursts, e.g. during satellite passes) gets a quality near 0. A
cell never seen gets the prior mean.

Silences of ``max_interval_h`` (6 h) or more are left out, so that the gaps being judged
do not judge themselves.

*Occupancy* per grid cell and hour: whether some vessel was heard there. It lets
:func:`score_gaps` check *co-silence* (Windward's "lost signal" versus "dark activity"):
during a gap, were the cells near its two ends occupied as usual by other vessels? If they
were quiet too, a receiver outage explains the gap better than a switch-off. The same on a
coarse 1-degree grid of the poorly covered water (``co_silence_wide``) tells whether the
satellite passes that cover such water happened during the gap.

See ``docs/detection.md`` for the parameters and their sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from caspian_ais.geodesy import haversine_km

__all__ = ["ReceptionModel", "build_reception_model", "score_gaps", "cell_ids",
           "estimate_report_interval_s", "scaled_for_interval"]

_NS_PER_H = 3_600_000_000_000
_KM_PER_DEG_LAT = 111.195


def cell_ids(lat: np.ndarray, lon: np.ndarray, cell_deg: float) -> np.ndarray:
    """Integer id of the ``cell_deg`` grid cell holding each point (-1 for NaN).

    Parameters
    ----------
    lat, lon : numpy.ndarray
        Decimal degrees.
    cell_deg : float
        Cell size in degrees (square in degrees).

    Returns
    -------
    numpy.ndarray of int64
        ``row * n_cols + col`` with ``row = floor((lat + 90) / cell_deg)`` and
        ``col = floor((lon + 180) / cell_deg)``.

    Examples
    --------
    >>> int(cell_ids(np.array([0.05]), np.array([0.05]), 0.1)[0]) == 900 * 3601 + 1800
    True
    """
    n_cols = int(np.ceil(360.0 / cell_deg)) + 1
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon)
    r = np.floor((np.where(ok, lat, 0.0) + 90.0) / cell_deg).astype(np.int64)
    c = np.floor((np.where(ok, lon, 0.0) + 180.0) / cell_deg).astype(np.int64)
    return np.where(ok, r * n_cols + c, -1)


def _month_index(t_ns: np.ndarray) -> np.ndarray:
    """Months since 1970-01 for each timestamp (ns)."""
    return np.asarray(t_ns, dtype=np.int64).view("datetime64[ns]").astype("datetime64[M]").astype(
        np.int64
    )


@dataclass
class ReceptionModel:
    """What :func:`build_reception_model` learned. Treat as read-only.

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per (cell, month) seen: ``cell``, ``month`` (``"YYYY-MM"``),
        ``lat``/``lon`` (cell centre), ``reports``, ``vessels`` (present by a report or
        crossed unheard), ``well_heard`` (vessels heard at least half their time there),
        ``heard_h``, ``missed_h`` (hours, all vessels), ``quality`` (0-1) and
        ``reports_per_h`` (all vessels).
    cell_deg : float
        Grid cell size, degrees.
    heard_max_h : float
        Longest interval between two reports that counts as "heard", hours.
    max_interval_h : float
        Silences this long or longer were left out of the model, hours.
    prior_heard, prior_missed : float
        Beta prior of the quality.
    bin_h : float
        Width of the time bins of the traffic histogram, hours.
    """

    cells: pd.DataFrame
    cell_deg: float
    heard_max_h: float
    max_interval_h: float
    prior_heard: float
    prior_missed: float
    bin_h: float
    t0_ns: int
    wide_cell_deg: float = 1.0
    poor_quality: float = 0.5
    # compact per-cell-month quality lookup and the occupancy grids
    _cell_keys: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    _quality: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _local: _Occupancy | None = field(repr=False, default=None)
    _wide: _Occupancy | None = field(repr=False, default=None)
    #: detected satellite passes (runs of pass bins): start and end (exclusive), ns
    pass_start_ns: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    pass_end_ns: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    pass_bin_min: float = 10.0
    pass_min_vessels: int = 5
    #: effective reporting interval of the data, seconds (estimated or given)
    report_interval_s: float = float("nan")

    def passes_within(self, t_start_ns: np.ndarray, t_end_ns: np.ndarray) -> np.ndarray:
        """Number of detected passes lying wholly inside each interval.

        A pass counts only when it starts in a later pass bin than ``t_start`` and ends
        in an earlier one than ``t_end``: a pass that heard the vessel just before (after)
        the silence is not one that missed it.
        """
        a = np.asarray(t_start_ns, np.int64)
        b = np.asarray(t_end_ns, np.int64)
        if self.pass_start_ns.size == 0:
            return np.zeros(a.shape, dtype=np.int64)
        w = int(round(self.pass_bin_min * 60e9))
        # first pass starting at or after the bin following t_start's bin
        a_next = (a - self.t0_ns) // w * w + w + self.t0_ns
        b_bin = (b - self.t0_ns) // w * w + self.t0_ns
        i0 = np.searchsorted(self.pass_start_ns, a_next, side="left")
        i1 = np.searchsorted(self.pass_end_ns, b_bin, side="right")
        return np.maximum(i1 - i0, 0).astype(np.int64)

    @property
    def prior_quality(self) -> float:
        """Quality of a cell with no data (the prior mean)."""
        return self.prior_heard / (self.prior_heard + self.prior_missed)

    def quality_at(self, lat: np.ndarray, lon: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
        """Reception quality (0-1) of the cell and month of each point."""
        cid = cell_ids(lat, lon, self.cell_deg)
        key = cid * 100_000 + (_month_index(t_ns) + 10_000)
        pos = np.searchsorted(self._cell_keys, key)
        pos = np.clip(pos, 0, max(self._cell_keys.size - 1, 0))
        if self._cell_keys.size == 0:
            return np.full(key.shape, self.prior_quality)
        found = self._cell_keys[pos] == key
        return np.where(found & (cid >= 0), self._quality[pos], self.prior_quality)

    def occupancy(self, lat: np.ndarray, lon: np.ndarray, t_start_ns: np.ndarray,
                  t_end_ns: np.ndarray, mmsi: np.ndarray, radius_km: float, *, wide: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Occupied cell-bins around points during intervals: observed and expected.

        A cell-bin is *occupied* when some vessel was heard in that cell in that time bin.
        Around each point the cells within ``radius_km`` (a square of whole cells) are
        taken; the observed count is their occupied bins inside ``[t_start, t_end)``, the
        expected count their usual occupancy over the data period for as many bins,
        leaving out the bins where vessel ``mmsi`` was heard there alone.

        With ``wide=True`` the coarse grid of reports in poorly covered water is used.
        """
        occ = self._wide if wide else self._local
        deg = self.wide_cell_deg if wide else self.cell_deg
        n = np.asarray(lat).size
        if occ is None or occ.cells.size == 0 or n == 0:
            return np.zeros(n), np.zeros(n)
        r = max(int(np.ceil(radius_km / (deg * _KM_PER_DEG_LAT))), 0)
        nb = _neighbourhood(cell_ids(lat, lon, deg), r, deg)
        g_idx = np.repeat(np.arange(n), nb.shape[1])
        bin_ns = int(round(self.bin_h * _NS_PER_H))
        b0 = -((-(np.asarray(t_start_ns, np.int64) - self.t0_ns)) // bin_ns)  # ceil
        b1 = (np.asarray(t_end_ns, np.int64) - self.t0_ns) // bin_ns
        o, x = occ.query(nb.ravel(), np.repeat(b0, nb.shape[1]), np.repeat(b1, nb.shape[1]),
                         np.repeat(np.asarray(mmsi, np.int64), nb.shape[1]))
        return (np.bincount(g_idx, weights=o, minlength=n),
                np.bincount(g_idx, weights=x, minlength=n))


@dataclass
class _Occupancy:
    """Cells x time bins: cumulative count of bins in which some vessel was heard."""

    cells: np.ndarray  # sorted cell ids
    cum: np.ndarray  # (n_cells, n_bins + 1) cumulative occupied bins
    n_bins: int
    solo_keys: np.ndarray  # sorted (vessel, cell) keys
    solo_bins: np.ndarray  # bins in which that vessel alone was heard in that cell
    shift: int

    @classmethod
    def build(cls, cid: np.ndarray, tb: np.ndarray, mmsi: np.ndarray, n_bins: int
              ) -> _Occupancy:
        shift = 34
        if cid.size == 0:
            e = np.zeros(0, np.int64)
            return cls(e, np.zeros((0, n_bins + 1), np.int64), n_bins, e, e, shift)
        codes, cells = pd.factorize(cid)
        cells = np.asarray(cells, dtype=np.int64)
        by = np.argsort(cells)
        rank = np.empty(cells.size, dtype=np.int64)
        rank[by] = np.arange(cells.size)
        codes = rank[codes]
        cells = cells[by]
        vcode, vuniq = pd.factorize(mmsi)
        vuniq = np.asarray(vuniq, dtype=np.int64)
        nv = int(vuniq.size)
        cb = codes * n_bins + tb  # (cell, bin)
        trip = np.sort(cb * nv + vcode)  # distinct (cell, bin, vessel)
        trip = trip[np.r_[True, trip[1:] != trip[:-1]]]
        tcb = trip // nv
        first = np.r_[True, tcb[1:] != tcb[:-1]]
        starts = np.flatnonzero(first)
        n_v = np.diff(np.r_[starts, tcb.size])  # vessels per occupied (cell, bin)
        occ = np.zeros(cells.size * n_bins, dtype=np.int64)
        occ[tcb[starts]] = 1
        cum = np.zeros((cells.size, n_bins + 1), dtype=np.int64)
        np.cumsum(occ.reshape(cells.size, n_bins), axis=1, out=cum[:, 1:])
        # bins where a vessel was alone in a cell: its own share of the occupancy
        alone = starts[n_v == 1]
        v_alone = vuniq[trip[alone] % nv]
        c_alone = cells[tcb[alone] // n_bins]
        sk = np.sort((v_alone % (1 << (63 - shift))) * (1 << shift) + c_alone)
        s0 = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]]) if sk.size else sk
        return cls(cells, cum, n_bins, sk[s0], np.diff(np.r_[s0, sk.size]), shift)

    def query(self, cells: np.ndarray, b0: np.ndarray, b1: np.ndarray, mmsi: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip(np.searchsorted(self.cells, cells), 0, self.cells.size - 1)
        found = self.cells[pos] == cells
        b0 = np.clip(b0, 0, self.n_bins)
        b1 = np.clip(np.maximum(b1, b0), 0, self.n_bins)
        obs = (self.cum[pos, b1] - self.cum[pos, b0]).astype(np.float64)
        total = self.cum[pos, self.n_bins].astype(np.float64)
        if self.solo_keys.size:
            k = (np.asarray(mmsi, np.int64) % (1 << (63 - self.shift))) * (1 << self.shift) + cells
            j = np.clip(np.searchsorted(self.solo_keys, k), 0, self.solo_keys.size - 1)
            total = total - np.where(self.solo_keys[j] == k, self.solo_bins[j], 0)
        exp = total / max(self.n_bins, 1) * (b1 - b0)
        obs[~found] = 0.0
        exp[~found] = 0.0
        return obs, exp


def _sorted_order(mmsi: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
    d = np.diff(mmsi)
    if d.size == 0 or ((d >= 0).all() and ((d > 0) | (np.diff(t_ns) >= 0)).all()):
        return np.arange(mmsi.size)
    return np.lexsort((t_ns, mmsi))


def _path_points(la: np.ndarray, lo_a: np.ndarray, lb: np.ndarray, lo_b: np.ndarray,
                 cell_deg: float, max_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points about half a cell apart on the straight lines a->b, ends included.

    Returns the line index of each point and its latitude and longitude.
    """
    dist = np.nan_to_num(haversine_km(la, lo_a, lb, lo_b))
    cell_km = cell_deg * _KM_PER_DEG_LAT
    k = np.clip(np.ceil(dist / (cell_km / 2.0)).astype(np.int64), 1, max_samples) + 1
    rep = np.repeat(np.arange(la.size), k)
    frac = (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)) / np.repeat(k - 1, k)
    plat = la[rep] + (lb[rep] - la[rep]) * frac
    plon = lo_a[rep] + (lo_b[rep] - lo_a[rep]) * frac
    return rep, plat, plon


def _missed_cells(la: np.ndarray, lo_a: np.ndarray, lb: np.ndarray, lo_b: np.ndarray,
                  cell_deg: float, *, max_samples: int = 60,
                  chunk_points: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Cells crossed by each missed interval, each cell once per interval.

    Returns the interval index and the cell id of every (interval, cell) pair.
    """
    out_i: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    n = la.size
    # bound memory: lines per chunk so that the points fit in ``chunk_points``
    step = max(1, chunk_points // (max_samples + 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        rep, plat, plon = _path_points(la[a:b], lo_a[a:b], lb[a:b], lo_b[a:b], cell_deg,
                                       max_samples)
        pc = cell_ids(plat, plon, cell_deg)
        # a straight line crosses each (convex) cell in one run: drop repeats in the run
        new = np.ones(pc.size, dtype=bool)
        new[1:] = (pc[1:] != pc[:-1]) | (rep[1:] != rep[:-1])
        new &= pc >= 0
        out_i.append(rep[new] + a)
        out_c.append(pc[new])
    if not out_i:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_i), np.concatenate(out_c)


#: fewest intervals from which the reporting interval is estimated (fewer: NaN, no scaling)
MIN_INTERVALS = 50
#: most intervals the median is taken over (a regular subsample of them)
MEDIAN_SAMPLE = 200_000


def _median_interval(same: np.ndarray, dt: np.ndarray, moving_first: np.ndarray | None,
                     max_interval_h: float) -> float:
    """Median of the intervals ``dt`` (ns) between consecutive reports of one vessel
    (``same``), positive, shorter than ``max_interval_h`` and, when ``moving_first`` is
    given and leaves enough, starting at a report under way; seconds. NaN when fewer than
    :data:`MIN_INTERVALS` qualify."""
    ok = same & (dt > 0) & (dt < int(max_interval_h * _NS_PER_H))
    if moving_first is not None:
        ok_m = ok & moving_first
        if np.count_nonzero(ok_m) >= MIN_INTERVALS:
            ok = ok_m
    idx = np.flatnonzero(ok)
    if idx.size < MIN_INTERVALS:
        return float("nan")
    # a regular subsample of at most MEDIAN_SAMPLE intervals is plenty for a median
    step = max(1, idx.size // MEDIAN_SAMPLE)
    return float(np.median(dt[idx[::step]])) / 1e9


def _interval_from_sorted(mmsi_o: np.ndarray, t_o: np.ndarray, moving_o: np.ndarray | None,
                          max_interval_h: float) -> float:
    """:func:`_median_interval` from arrays sorted by (mmsi, time)."""
    if t_o.size < 2:
        return float("nan")
    return _median_interval(mmsi_o[1:] == mmsi_o[:-1], t_o[1:] - t_o[:-1],
                            None if moving_o is None else moving_o[:-1], max_interval_h)


def scaled_for_interval(report_interval_s: float, *, heard_max_h: float, pass_bin_min: float,
                        heard_max_intervals: float = 2.0) -> tuple[float, float]:
    """``(heard_max_h, pass_bin_min)`` for data reported every ``report_interval_s``
    seconds: ``max(heard_max_h, heard_max_intervals x interval)`` and ``max(pass_bin_min,
    interval)``. Thinned data show a vessel at most once per interval, at a time anywhere
    in its slot. Unchanged when the interval is NaN or not positive.

    Examples
    --------
    >>> scaled_for_interval(1800.0, heard_max_h=1.0, pass_bin_min=10.0)
    (1.0, 30.0)
    >>> scaled_for_interval(60.0, heard_max_h=1.0, pass_bin_min=10.0)
    (1.0, 10.0)
    """
    d = float(report_interval_s)
    if not (np.isfinite(d) and d > 0):
        return heard_max_h, pass_bin_min
    return (max(heard_max_h, heard_max_intervals * d / 3600.0),
            max(pass_bin_min, d / 60.0))


def estimate_report_interval_s(tracks: pd.DataFrame, *, moving_min_kn: float = 3.0,
                               max_interval_h: float = 6.0,
                               order: np.ndarray | None = None) -> float:
    """Effective reporting interval of the data: the median interval between consecutive
    reports of a vessel under way, in seconds.

    Intervals count only when positive, shorter than ``max_interval_h`` (hours; longer
    silences are gaps) and starting at a report with ``sog_kn`` at least ``moving_min_kn``
    (all intervals when the table has no speeds or no vessel under way). Heard intervals
    outnumber missed ones by far (one silence of hours against hundreds of reports in
    covered water), so the median is the rate in well-covered water: about 2-10 s for a
    raw terrestrial feed (ITU-R M.1371), 60 s for a dump thinned to one report a minute
    (MarineCadastre), 1800 s for one thinned to one every 30 minutes.

    Returns NaN (the callers then assume dense reporting and scale nothing) when fewer
    than :data:`MIN_INTERVALS` (50) intervals qualify.

    Examples
    --------
    >>> t = pd.DataFrame({"mmsi": [1] * 60, "sog_kn": [10.0] * 60, "timestamp":
    ...     pd.date_range("2023-06-01", periods=60, freq="30min", tz="UTC")})
    >>> estimate_report_interval_s(t)
    1800.0
    """
    mmsi = tracks["mmsi"].to_numpy(dtype=np.int64)
    ts = tracks["timestamp"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    t_ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if order is None:
        order = _sorted_order(mmsi, t_ns)
    moving = None
    if "sog_kn" in tracks:
        sog = tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)
        moving = (sog >= moving_min_kn)[order]
    return _interval_from_sorted(mmsi[order], t_ns[order], moving, max_interval_h)


def build_reception_model(
    tracks: pd.DataFrame,
    *,
    cell_deg: float = 0.1,
    heard_max_h: float = 1.0,
    max_interval_h: float = 6.0,
    prior_heard: float = 1.0,
    prior_missed: float = 1.0,
    bin_h: float = 1.0,
    max_bins: int = 20_000_000,
    wide_cell_deg: float = 1.0,
    poor_quality: float = 0.5,
    pass_bin_min: float = 10.0,
    pass_min_vessels: int = 5,
    report_interval_s: float | None = None,
    heard_max_intervals: float = 2.0,
    order: np.ndarray | None = None,
) -> ReceptionModel:
    """Learn reception quality per grid cell x month, and traffic per cell x hour.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Canonical AIS table (cleaned: no NaN positions or NaT timestamps).
    cell_deg : float, default 0.1
        Grid cell size in degrees (about 11 km of latitude): fine enough to resolve a
        port approach or a coverage hole; GFW's satellite map uses 1 degree.
    heard_max_h : float, default 1.0
        An interval between consecutive reports of a vessel up to this long (hours)
        is "heard" time; a longer one is "missed" time, spread over the cells it
        crosses. ITU-R M.1371 rates are 2 s to 3 min, so one hour is already many lost
        reports.
    max_interval_h : float, default 6.0
        Silences this long or longer are left out of the model, so that the gaps it
        judges (6 h and more by default, GFW's gap threshold) do not judge themselves,
        and deliberate switch-offs do not lower the quality of the water they happen in.
    prior_heard, prior_missed : float, default 1.0, 1.0
        Beta prior of the quality, in vessels (uniform; after Hammond & Peters 2012).
    bin_h : float, default 1.0
        Time bin of the traffic histogram, hours (widened automatically so that the
        histogram holds at most ``max_bins`` cells x bins).
    max_bins : int, default 20,000,000
        Memory bound of the occupancy grid (cells x bins).
    wide_cell_deg : float, default 1.0
        Cell size of the coarse occupancy grid built from the reports in poorly covered
        water (GFW's 1-degree satellite-reception grid).
    poor_quality : float, default 0.5
        Cells of lower quality count as poorly covered for the coarse grid.
    pass_bin_min : float, default 10.0
        Width (minutes) of the time bins in which satellite passes are detected: a
        low-orbit AIS satellite sees a region for about 10 minutes per pass.
    pass_min_vessels : int, default 5
        A time bin is a *pass bin* when at least this many distinct vessels were heard
        in poorly covered water during it. Outside a pass, poorly covered water is heard
        only at the edge of station range, by ones and twos; a satellite hears every
        transmitting vessel of its footprint at once. Consecutive pass bins form one
        pass (:meth:`ReceptionModel.passes_within`).
    report_interval_s : float, optional
        Effective reporting interval of the data, seconds; default estimated with
        :func:`estimate_report_interval_s` (median interval under way). A dump thinned to
        one report per ``report_interval_s`` shows a vessel at most once per interval,
        and the kept report's time lies anywhere in its slot, so a ten-minute satellite
        pass appears as a burst at least one interval wide: the pass bins are
        ``max(pass_bin_min, report_interval_s)`` wide. No effect at one report a minute
        or faster.
    heard_max_intervals : float, default 2.0
        An interval is heard time when at most ``max(heard_max_h, heard_max_intervals x
        report_interval_s)`` long: with data thinned to one report an hour, an interval
        of an hour loses nothing. No effect at one report every 30 minutes or faster.
    order : numpy.ndarray, optional
        Row positions sorting ``tracks`` by ``(mmsi, timestamp)``, if already known
        (saves a sort).

    Returns
    -------
    ReceptionModel

    Examples
    --------
    >>> t = pd.DataFrame({"mmsi": [273000001] * 4, "lat": [45.0] * 4, "lon": [49.0] * 4,
    ...     "timestamp": pd.date_range("2023-06-01", periods=4, freq="10min", tz="UTC")})
    >>> m = build_reception_model(t)
    >>> round(float(m.cells["quality"].iloc[0]), 2)   # 1 vessel, well heard, prior 1/1
    0.67
    """
    mmsi = tracks["mmsi"].to_numpy(dtype=np.int64)
    ts = tracks["timestamp"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    t_ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    lat = tracks["lat"].to_numpy(dtype=np.float64)
    lon = tracks["lon"].to_numpy(dtype=np.float64)
    n = mmsi.size
    if n == 0:
        empty = pd.DataFrame({c: pd.Series([], dtype="float64") for c in (
            "cell", "month", "lat", "lon", "reports", "vessels", "heard", "missed",
            "quality", "reports_per_h")})
        return ReceptionModel(empty, cell_deg, heard_max_h, max_interval_h, prior_heard,
                              prior_missed, bin_h, 0, wide_cell_deg, poor_quality)
    if order is None:
        order = _sorted_order(mmsi, t_ns)
    cid = cell_ids(lat, lon, cell_deg)
    mon = _month_index(t_ns)
    m0 = int(mon.min())
    # (cell, month) as one int64 key; months relative to the first, < 4096
    ckey = cid * 4096 + (mon - m0)
    ckey[cid < 0] = -1
    # --- heard / missed time of each vessel in each cell-month -------------------------
    om = mmsi[order]
    ot = t_ns[order]
    same = om[1:] == om[:-1]
    del om
    dt = ot[1:] - ot[:-1]
    del ot
    if report_interval_s is None:
        moving = None
        if "sog_kn" in tracks:
            sog = tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)
            moving = sog[order[:-1]] >= 3.0
        report_interval_s = _median_interval(same, dt, moving, max_interval_h)
    delta_s = float(report_interval_s)
    heard_max_h, pass_bin_min = scaled_for_interval(
        delta_s, heard_max_h=heard_max_h, pass_bin_min=pass_bin_min,
        heard_max_intervals=heard_max_intervals)
    heard_ns = int(heard_max_h * _NS_PER_H)
    vcode = pd.factorize(mmsi)[0].astype(np.int64)
    nv = int(vcode.max()) + 1
    h_sel = np.flatnonzero(same & (dt > 0) & (dt <= heard_ns))
    h_rows = order[h_sel]
    h_key = ckey[h_rows] * nv + vcode[h_rows]
    h_w = dt[h_sel] / _NS_PER_H
    m_idx = np.flatnonzero(same & (dt > heard_ns) & (dt < int(max_interval_h * _NS_PER_H)))
    m_dt = dt[m_idx] / _NS_PER_H
    del same, dt, h_sel
    a_rows, b_rows = order[m_idx], order[m_idx + 1]
    mi, mc = _missed_cells(lat[a_rows], lon[a_rows], lat[b_rows], lon[b_rows], cell_deg)
    n_cells = np.bincount(mi, minlength=m_idx.size)
    m_key = np.where(mc >= 0, (mc * 4096 + (mon[a_rows][mi] - m0)) * nv + vcode[a_rows][mi], -1)
    m_w = m_dt[mi] / np.maximum(n_cells[mi], 1)  # the silence spread over the cells crossed
    # every (cell-month, vessel) present by a report or crossed unheard
    r_key = np.where(ckey >= 0, ckey * nv + vcode, -1)
    allk = np.concatenate([r_key, h_key, m_key])
    codes, uniq = pd.factorize(allk)
    uniq = np.asarray(uniq, dtype=np.int64)
    nk = uniq.size
    n_r, n_h = r_key.size, h_key.size
    heard_h = np.bincount(codes[n_r:n_r + n_h], weights=h_w, minlength=nk)
    missed_h = np.bincount(codes[n_r + n_h:], weights=m_w, minlength=nk)
    n_rep = np.bincount(codes[:n_r], minlength=nk)
    row_code = codes[:n_r].copy()  # (cell-month, vessel) of each report
    del allk, codes, r_key, h_key, m_key
    cm = np.where(uniq >= 0, uniq // nv, -1)  # cell-month key of each (cell-month, vessel)
    well = heard_h >= missed_h
    ccodes, cuniq = pd.factorize(cm)
    cuniq = np.asarray(cuniq, dtype=np.int64)
    nc = cuniq.size
    table = pd.DataFrame({
        "key": cuniq,
        "reports": np.bincount(ccodes, weights=n_rep, minlength=nc).astype(np.int64),
        "vessels": np.bincount(ccodes, minlength=nc),
        "well_heard": np.bincount(ccodes, weights=well, minlength=nc).astype(np.int64),
        "heard_h": np.bincount(ccodes, weights=heard_h, minlength=nc),
        "missed_h": np.bincount(ccodes, weights=missed_h, minlength=nc),
    })
    q_c = (table["well_heard"].to_numpy() + prior_heard) / (
        table["vessels"].to_numpy() + prior_heard + prior_missed)
    row_quality = q_c[ccodes[row_code]]
    del row_code
    table = table[table["key"] >= 0]
    table.insert(0, "cell", table["key"].to_numpy() // 4096)
    table.insert(1, "month", table["key"].to_numpy() % 4096 + m0)
    table = table.drop(columns="key")
    table["quality"] = (table["well_heard"] + prior_heard) / (
        table["vessels"] + prior_heard + prior_missed
    )
    # data hours within each month (the data may not cover whole months)
    t_lo, t_hi = int(t_ns.min()), int(t_ns.max())
    months = np.unique(table["month"].to_numpy())
    m_start = months.astype("datetime64[M]").astype("datetime64[ns]").view(np.int64)
    m_end = (months + 1).astype("datetime64[M]").astype("datetime64[ns]").view(np.int64)
    hours = (np.minimum(m_end, t_hi) - np.maximum(m_start, t_lo)) / _NS_PER_H
    hours = pd.Series(np.maximum(hours, 1.0), index=months)
    table["reports_per_h"] = table["reports"] / table["month"].map(hours).to_numpy()
    n_cols = int(np.ceil(360.0 / cell_deg)) + 1
    row, col = np.divmod(table["cell"].to_numpy(), n_cols)
    table.insert(2, "lat", (row + 0.5) * cell_deg - 90.0)
    table.insert(3, "lon", (col + 0.5) * cell_deg - 180.0)
    keys = table["cell"].to_numpy() * 100_000 + (table["month"].to_numpy() + 10_000)
    srt = np.argsort(keys)
    qual = table["quality"].to_numpy()[srt]
    table["month"] = table["month"].to_numpy().astype("datetime64[M]").astype(str)
    table = table.sort_values(["month", "cell"], ignore_index=True)
    # --- occupancy: which cells heard some vessel in each time bin ---------------------
    span_h = (t_hi - t_lo) / _NS_PER_H
    valid = cid >= 0
    n_occ = int(np.unique(cid[valid]).size) if valid.any() else 0
    n_bins = int(np.floor(span_h / bin_h)) + 1
    while n_occ * (n_bins + 1) > max_bins and n_bins > 1:
        bin_h *= 2.0
        n_bins = int(np.floor(span_h / bin_h)) + 1
    bin_ns = int(round(bin_h * _NS_PER_H))
    tb = (t_ns - t_lo) // bin_ns
    local = _Occupancy.build(cid[valid], tb[valid], mmsi[valid], n_bins)
    # the same on a coarse grid, from the reports in poorly covered water only: in
    # satellite-only water the receptions come in bursts (passes) over a wide area
    poor = valid & (row_quality < poor_quality)
    wcid = cell_ids(lat[poor], lon[poor], wide_cell_deg)
    wide = _Occupancy.build(wcid, tb[poor], mmsi[poor], n_bins)
    p_start, p_end = _detect_passes(t_ns[poor], vcode[poor], t_lo, pass_bin_min,
                                    pass_min_vessels)
    return ReceptionModel(
        cells=table,
        cell_deg=cell_deg,
        heard_max_h=heard_max_h,
        max_interval_h=max_interval_h,
        prior_heard=prior_heard,
        prior_missed=prior_missed,
        bin_h=bin_h,
        t0_ns=t_lo,
        _cell_keys=keys[srt],
        _quality=qual,
        wide_cell_deg=wide_cell_deg,
        poor_quality=poor_quality,
        _local=local,
        _wide=wide,
        pass_start_ns=p_start,
        pass_end_ns=p_end,
        pass_bin_min=pass_bin_min,
        pass_min_vessels=pass_min_vessels,
        report_interval_s=delta_s,
    )


def _detect_passes(t_ns: np.ndarray, vcode: np.ndarray, t0_ns: int, bin_min: float,
                   min_vessels: int) -> tuple[np.ndarray, np.ndarray]:
    """Satellite passes from the reports heard in poorly covered water.

    A bin of ``bin_min`` minutes is a pass bin when at least ``min_vessels`` distinct
    vessels were heard in it; runs of consecutive pass bins are passes. Returns each
    pass's start and end (exclusive) in ns.
    """
    e = np.zeros(0, np.int64)
    if t_ns.size == 0:
        return e, e
    w = int(round(bin_min * 60e9))
    b = (t_ns - t0_ns) // w
    nb = int(b.max()) + 1
    nv = int(vcode.max()) + 1
    pair = np.unique(b * nv + vcode)  # distinct (bin, vessel)
    count = np.bincount(pair // nv, minlength=nb)
    hit = count >= min_vessels
    if not hit.any():
        return e, e
    prev = np.r_[False, hit[:-1]]
    nxt = np.r_[hit[1:], False]
    starts = np.flatnonzero(hit & ~prev)
    ends = np.flatnonzero(hit & ~nxt) + 1
    return starts.astype(np.int64) * w + t0_ns, ends.astype(np.int64) * w + t0_ns


def _neighbourhood(cid: np.ndarray, radius_cells: int, cell_deg: float) -> np.ndarray:
    """Cells within ``radius_cells`` (a square) of each cell: shape (n, (2r+1)^2)."""
    n_cols = int(np.ceil(360.0 / cell_deg)) + 1
    d = np.arange(-radius_cells, radius_cells + 1)
    off = (d[:, None] * n_cols + d[None, :]).ravel()
    return cid[:, None] + off[None, :]


def score_gaps(
    gaps: pd.DataFrame,
    model: ReceptionModel,
    *,
    radius_km: float = 10.0,
    min_expected_bins: float = 3.0,
    wide_radius_km: float = 300.0,
    min_expected_wide_bins: float = 2.0,
    co_silence_parts: int = 1,
    normal_co_silence: float = 0.2,
    max_path_samples: int = 400,
) -> pd.DataFrame:
    """Reception score and co-silence of each gap.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table from :func:`caspian_ais.gaps.detect_gaps` (``start_time``,
        ``end_time``, ``start_lat`` ...; open gaps get NaN co-silence).
    model : ReceptionModel
        From :func:`build_reception_model` on the same (or comparable) tracks.
    radius_km : float, default 10.0
        Neighbourhood of each gap end whose occupancy is checked for co-silence (rounded
        up to whole grid cells, a square): a receiver outage silences everything in a
        shore station's 40-60 km range.
    min_expected_bins : float, default 3.0
        Co-silence is only judged when the neighbourhood normally has at least this many
        occupied cell-hours (bins in which some other vessel is heard) during a stretch
        as long as the gap; otherwise NaN (unknown).
    wide_radius_km : float, default 300.0
        Neighbourhood on the coarse grid of poorly covered water for ``co_silence_wide``:
        in satellite-only water receptions come in passes seen over hundreds of km.
    min_expected_wide_bins : float, default 2.0
        As ``min_expected_bins``, for ``co_silence_wide``.
    co_silence_parts : int, default 1
        The gap is also cut into this many equal parts; when in one of them the
        neighbours were heard as usual (co-silence at most ``normal_co_silence``), that
        part's value is the gap's ``co_silence``: a receiver outage explains a gap only if
        the neighbours were quiet all along, not when it merely overlaps part of it.
    normal_co_silence : float, default 0.2
        See ``co_silence_parts``.
    max_path_samples : int, default 400
        Most points sampled along the straight line between the gap ends.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``gaps``, with ``reception_score`` (0-1: the lowest reception
        quality among the cells on the line between the gap ends, including the ends'
        cells), ``start_quality``, ``end_quality``, ``co_silence`` (0-1:
        ``1 - observed / expected`` occupied cell-hours near the gap ends during the gap,
        NaN when unknown), ``heard_bins``, ``expected_bins``, ``co_silence_wide`` (the
        same on the coarse grid of poorly covered water within ``wide_radius_km``) and
        ``passes`` (satellite passes wholly inside the gap, see
        :meth:`ReceptionModel.passes_within`).

    Examples
    --------
    >>> t = pd.DataFrame({"mmsi": [273000001] * 4, "lat": [45.0] * 4, "lon": [49.0] * 4,
    ...     "timestamp": pd.date_range("2023-06-01", periods=4, freq="10min", tz="UTC")})
    >>> g = pd.DataFrame({"start_time": t["timestamp"][:1], "end_time": t["timestamp"][3:].values,
    ...     "start_lat": [45.0], "start_lon": [49.0], "end_lat": [45.0], "end_lon": [49.0]})
    >>> list(score_gaps(g, build_reception_model(t)).columns)[:2]
    ['reception_score', 'start_quality']
    """
    n = len(gaps)
    out = pd.DataFrame(index=gaps.index)
    if n == 0:
        for c in ("reception_score", "start_quality", "end_quality", "co_silence",
                  "heard_bins", "expected_bins", "co_silence_wide", "passes"):
            out[c] = pd.Series([], dtype="float64")
        return out
    s_ns = _ns(gaps["start_time"])
    e_ns = _ns(gaps["end_time"])
    closed = e_ns != np.iinfo(np.int64).min
    slat = gaps["start_lat"].to_numpy(np.float64)
    slon = gaps["start_lon"].to_numpy(np.float64)
    elat = np.where(closed, gaps["end_lat"].to_numpy(np.float64), slat)
    elon = np.where(closed, gaps["end_lon"].to_numpy(np.float64), slon)
    # --- reception score: the worst cell on the straight path --------------------------
    rep, plat, plon = _path_points(slat, slon, elat, elon, model.cell_deg, max_path_samples)
    q = model.quality_at(plat, plon, s_ns[rep])
    score = np.full(n, np.inf)
    np.minimum.at(score, rep, q)
    out["reception_score"] = score
    out["start_quality"] = model.quality_at(slat, slon, s_ns)
    out["end_quality"] = np.where(closed, model.quality_at(elat, elon, s_ns), np.nan)
    # --- co-silence: were the neighbours heard during the gap? -------------------------
    e_use = np.where(closed, e_ns, s_ns)
    own = gaps["mmsi"].to_numpy(np.int64) if "mmsi" in gaps else np.full(n, -1, np.int64)

    def silence(radius: float, wide: bool, min_expected: float) -> tuple[np.ndarray, ...]:
        o1, x1 = model.occupancy(slat, slon, s_ns, e_use, own, radius, wide=wide)
        o2, x2 = model.occupancy(elat, elon, s_ns, e_use, own, radius, wide=wide)
        o, x = o1 + o2, x1 + x2
        with np.errstate(divide="ignore", invalid="ignore"):
            co = np.clip(1.0 - o / x, 0.0, 1.0)
        co[(x < min_expected) | ~closed] = np.nan
        return co, o, x

    co, o, x = silence(radius_km, False, min_expected_bins)
    if co_silence_parts > 1:
        # an outage explains a gap only if the neighbours were quiet all along: take the
        # least silent part (a dark spell that merely overlaps an outage stays suspicious)
        parts = []
        span = e_use - s_ns
        for k in range(co_silence_parts):
            a_ = s_ns + span * k // co_silence_parts
            b_ = s_ns + span * (k + 1) // co_silence_parts
            o1, x1 = model.occupancy(slat, slon, a_, b_, own, radius_km)
            o2, x2 = model.occupancy(elat, elon, a_, b_, own, radius_km)
            with np.errstate(divide="ignore", invalid="ignore"):
                ck = np.clip(1.0 - (o1 + o2) / (x1 + x2), 0.0, 1.0)
            ck[(x1 + x2) < min_expected_bins / co_silence_parts] = np.nan
            parts.append(ck)
        stack = np.vstack(parts)
        known = np.isfinite(stack).any(axis=0)
        least = np.full(n, np.nan)
        least[known] = np.nanmin(stack[:, known], axis=0)
        # only a part with traffic as usual (co-silence <= normal_co_silence) counts
        co = np.where(np.isfinite(co) & known & (least <= normal_co_silence), least, co)
    out["co_silence"] = co
    out["heard_bins"] = o
    out["expected_bins"] = x
    cw, ow, xw = silence(wide_radius_km, True, min_expected_wide_bins)
    out["co_silence_wide"] = cw
    out["passes"] = np.where(closed, model.passes_within(s_ns, e_use), 0)
    return out


def _ns(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[ns]").view(np.int64)
