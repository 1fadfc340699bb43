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

How the model is built
----------------------
Everything the model holds is a function of per-vessel aggregates that add up over any
split of the vessels into *partitions* (every vessel's rows in one partition). It is
built in three steps, each a *partial* per partition followed by a *merge*:

1. the reporting interval, when not given (:func:`interval_partial` -> :func:`interval_plan`
   -> :func:`interval_sample` -> :func:`merge_interval`): the median of a regular sample
   of the intervals under way, in (mmsi, time) order;
2. the quality (:func:`quality_partial` -> :func:`merge_quality`): per (cell-month,
   vessel) its reports, heard and missed hours, merged into the cell-month table;
3. the occupancy (:func:`occupancy_partial` -> :func:`model_from_partials`): per
   occupied (cell, time bin) how many vessels were heard and which one when alone, the
   same on the coarse grid of poorly covered water (which needs step 2's quality), and
   the vessels heard per satellite-pass bin.

:func:`build_reception_model` runs the three steps on one partition (the whole table);
the batch and Dask engines (:mod:`caspian_ais.batch.run`) run the partials per vessel
partition and merge them, and get the identical model. Within a partition the work is on
numpy arrays sorted by (mmsi, time), row runs of one vessel in one cell, month or time bin
collapsed before anything is grouped.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import haversine_km
from caspian_ais.ordering import mmsi_time_order
from caspian_ais.schema import timestamp_ns

__all__ = ["ReceptionModel", "ReceptionOptions", "QualityTable", "build_reception_model",
           "score_gaps", "cell_ids", "estimate_report_interval_s", "scaled_for_interval",
           "reception_options", "interval_partial", "interval_plan", "interval_sample",
           "merge_interval", "quality_partial", "merge_quality", "occupancy_partial",
           "model_from_partials"]

_NS_PER_H = 3_600_000_000_000
_KM_PER_DEG_LAT = 111.195
#: months relative to the first one packed with a cell id into one int64 key
_MONTH_SPAN = 4096


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
    if lat.ndim and np.isfinite(lat).all() and np.isfinite(lon).all():
        # no NaN: the same arithmetic in place, in floats (exact: whole numbers < 2**53)
        r = lat + 90.0
        r /= cell_deg
        np.floor(r, out=r)
        r *= n_cols
        c = lon + 180.0
        c /= cell_deg
        np.floor(c, out=c)
        r += c
        return r.astype(np.int64)
    ok = np.isfinite(lat) & np.isfinite(lon)
    r = np.floor((np.where(ok, lat, 0.0) + 90.0) / cell_deg).astype(np.int64)
    c = np.floor((np.where(ok, lon, 0.0) + 180.0) / cell_deg).astype(np.int64)
    return np.where(ok, r * n_cols + c, -1)


def _month_index(t_ns: np.ndarray) -> np.ndarray:
    """Months since 1970-01 for each timestamp (ns)."""
    return np.asarray(t_ns, dtype=np.int64).view("datetime64[ns]").astype("datetime64[M]").astype(
        np.int64
    )


def _lookup_quality(keys: np.ndarray, quality: np.ndarray, prior: float, cid: np.ndarray,
                    month: np.ndarray) -> np.ndarray:
    """Quality of each (cell, month) from the sorted keys ``cell * 100000 + month + 10000``
    and their qualities; ``prior`` where the cell-month was not seen or the cell is -1."""
    key = cid * 100_000 + (month + 10_000)
    if keys.size == 0:
        return np.full(key.shape, prior)
    pos = np.clip(np.searchsorted(keys, key), 0, keys.size - 1)
    found = keys[pos] == key
    return np.where(found & (cid >= 0), quality[pos], prior)

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
        return _lookup_quality(self._cell_keys, self._quality, self.prior_quality,
                               cell_ids(lat, lon, self.cell_deg), _month_index(t_ns))

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
    def from_parts(cls, parts: list[dict[str, np.ndarray]], n_bins: int) -> _Occupancy:
        """The grid from the partitions' occupied (cell, bin)s (:func:`_distinct_vessels`
        of ``cell * n_bins + bin``): a cell-bin is occupied when some partition heard a
        vessel there, and a vessel was alone in it when the partitions heard one vessel
        in all."""
        shift = 34
        parts = [p for p in parts if p["key"].size]
        if not parts:
            e = np.zeros(0, np.int64)
            return cls(e, np.zeros((0, n_bins + 1), np.int64), n_bins, e, e, shift)
        if len(parts) == 1:  # already distinct and sorted
            ucb, tot = parts[0]["key"], parts[0]["n_v"]
            solo_v = np.where(tot == 1, parts[0]["alone"], -1)
        else:
            cb = np.concatenate([p["key"] for p in parts])
            n_v = np.concatenate([p["n_v"] for p in parts])
            alone = np.concatenate([p["alone"] for p in parts])
            codes, ucb = pd.factorize(cb, sort=True)
            ucb = np.asarray(ucb, dtype=np.int64)
            tot = np.bincount(codes, weights=n_v, minlength=ucb.size).astype(np.int64)
            # the one vessel of a (cell, bin) heard by exactly one: the part with n_v == 1
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
        # bins where a vessel was alone in a cell: its own share of the occupancy
        is_solo = tot == 1
        v_alone = solo_v[is_solo]
        c_alone = cell_of[is_solo]
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
#: speed (knots) from which an interval counts as "under way" in the model's own estimate
_MOVING_KN = 3.0


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



# ---------------------------------------------------------------------------------------
# options


@cache
def _build_params() -> dict[str, inspect.Parameter]:
    params = inspect.signature(build_reception_model).parameters
    return {k: p for k, p in params.items() if k not in ("tracks", "order")}


class ReceptionOptions:
    """The options of :func:`build_reception_model`, defaults included (read from its
    signature, so that there is one list of them). Read them as attributes.

    Examples
    --------
    >>> ReceptionOptions(cell_deg=0.2).cell_deg, ReceptionOptions().max_interval_h
    (0.2, 6.0)
    """

    def __init__(self, **options: Any) -> None:
        params = _build_params()
        unknown = set(options) - set(params)
        if unknown:
            raise TypeError(f"unknown reception model option(s) {sorted(unknown)}")
        kw = {k: p.default for k, p in params.items()}
        kw.update(options)
        self.__dict__["kw"] = kw

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["kw"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"ReceptionOptions({self.kw!r})"

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`build_reception_model`."""
        return dict(self.kw)

    def with_interval(self, report_interval_s: float) -> ReceptionOptions:
        """These options with the data's reporting interval (seconds) filled in."""
        return ReceptionOptions(**{**self.kw, "report_interval_s": report_interval_s})

    def scaled(self) -> tuple[float, float]:
        """``(heard_max_h, pass_bin_min)`` as the model uses them: scaled to the reporting
        interval (:func:`scaled_for_interval`) when it is known."""
        heard, pass_bin = self.kw["heard_max_h"], self.kw["pass_bin_min"]
        if self.kw["report_interval_s"] is not None:
            heard, pass_bin = scaled_for_interval(
                float(self.kw["report_interval_s"]), heard_max_h=heard, pass_bin_min=pass_bin,
                heard_max_intervals=self.kw["heard_max_intervals"])
        return heard, pass_bin


def reception_options(options: dict[str, Any]) -> ReceptionOptions:
    """:class:`ReceptionOptions` from a dict of options of which only those of
    :func:`build_reception_model` are taken (e.g. ``detect_gaps``'s keyword options)."""
    params = _build_params()
    return ReceptionOptions(**{k: v for k, v in options.items() if k in params})


# ---------------------------------------------------------------------------------------
# one partition's arrays, sorted by (mmsi, time)


@dataclass
class _Partition:
    """The columns the model needs, sorted by (mmsi, time), and what is derived from
    them (computed once, on first use)."""

    mmsi: np.ndarray
    t_ns: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sog: np.ndarray | None
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.mmsi.size)

    def _get(self, key: Any, make: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @property
    def vessel_starts(self) -> np.ndarray:
        """First row of each vessel."""
        m = self.mmsi
        return self._get("vs", lambda: np.r_[0, np.flatnonzero(m[1:] != m[:-1]) + 1]
                         if m.size else np.zeros(0, np.int64))

    @property
    def vessels(self) -> np.ndarray:
        """The partition's vessels (MMSI), ascending."""
        return self.mmsi[self.vessel_starts]

    def vessel_code(self, rows: np.ndarray) -> np.ndarray:
        """Position in :attr:`vessels` of the vessel of each row."""
        return np.searchsorted(self.vessel_starts, rows, side="right") - 1

    @property
    def dt(self) -> np.ndarray:
        """Interval from each row to the next (the last row of a vessel: to the next
        vessel's first; see :meth:`same_vessel`), ns."""
        return self._get("dt", lambda: self.t_ns[1:] - self.t_ns[:-1])

    def same_vessel(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` (one value per interval) with the intervals between two vessels off."""
        mask[self.vessel_starts[1:] - 1] = False
        return mask

    @property
    def t_range(self) -> tuple[int, int]:
        return self._get("tr", lambda: (int(self.t_ns.min()), int(self.t_ns.max())))

    def cells(self, cell_deg: float) -> np.ndarray:
        """:func:`cell_ids` of the rows."""
        return self._get(("cid", cell_deg), lambda: cell_ids(self.lat, self.lon, cell_deg))

    @property
    def months(self) -> tuple[np.ndarray | None, int]:
        """Month index of each row (``None`` when all rows lie in one month) and the
        first month."""
        return self._get("mon", self._months)

    def _months(self) -> tuple[np.ndarray | None, int]:
        lo, hi = self.t_range
        m_lo, m_hi = (int(m) for m in _month_index(np.array([lo, hi])))
        if m_lo == m_hi:
            return None, m_lo
        if m_hi - m_lo > 1200:  # not real AIS times (e.g. NaT): convert every row
            return _month_index(self.t_ns), m_lo
        starts = np.arange(m_lo + 1, m_hi + 1).astype("datetime64[M]").astype(
            "datetime64[ns]").view(np.int64)
        return m_lo + np.searchsorted(starts, self.t_ns, side="right"), m_lo

    def runs(self, cell_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Runs of consecutive rows of one vessel in one cell and month: first row and
        length of each."""
        return self._get(("runs", cell_deg), lambda: self._runs(cell_deg))

    def _runs(self, cell_deg: float) -> tuple[np.ndarray, np.ndarray]:
        cid = self.cells(cell_deg)
        brk = cid[1:] != cid[:-1]
        mon, _ = self.months
        if mon is not None:
            brk |= mon[1:] != mon[:-1]
        brk[self.vessel_starts[1:] - 1] = True
        starts = np.r_[0, np.flatnonzero(brk) + 1]
        return starts, np.diff(np.r_[starts, self.n])

    def month_of(self, rows: np.ndarray) -> np.ndarray:
        """Month index (since 1970-01) of the given rows."""
        mon, m_lo = self.months
        return mon[rows] if mon is not None else np.full(rows.size, m_lo, np.int64)

    def qualifying(self, max_interval_h: float, moving_min_kn: float
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """Which intervals the reporting interval is estimated from: all qualifying
        ones, and those starting at a report under way (``None`` without speeds)."""
        return self._get(("iv", max_interval_h, moving_min_kn),
                         lambda: self._qualifying(max_interval_h, moving_min_kn))

    def _qualifying(self, max_interval_h: float, moving_min_kn: float
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        dt = self.dt
        ok = self.same_vessel((dt > 0) & (dt < int(max_interval_h * _NS_PER_H)))
        if self.sog is None:
            return ok, None
        return ok, ok & (self.sog[:-1] >= moving_min_kn)

    def per_vessel(self, mask: np.ndarray) -> np.ndarray:
        """How many intervals of each vessel ``mask`` holds."""
        if self.n < 2:
            return np.zeros(self.vessel_starts.size, np.int64)
        return np.add.reduceat(np.r_[mask, False].view(np.uint8), self.vessel_starts,
                               dtype=np.int64)


def _partition(tracks: pd.DataFrame | _Partition, order: np.ndarray | None = None
               ) -> _Partition:
    """The tracks' columns sorted by (mmsi, time); ``order`` sorts them, if known."""
    if isinstance(tracks, _Partition):
        return tracks
    mmsi = tracks["mmsi"].to_numpy(dtype=np.int64)
    t_ns = timestamp_ns(tracks["timestamp"])
    lat = tracks["lat"].to_numpy(dtype=np.float64)
    lon = tracks["lon"].to_numpy(dtype=np.float64)
    sog = (tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)
           if "sog_kn" in tracks else None)
    order = mmsi_time_order(mmsi, t_ns) if order is None else np.asarray(order)
    if order.size == mmsi.size and (order.size == 0 or (
            order[0] == 0 and (order[1:] - order[:-1] == 1).all())):
        order = None  # in order already
    if order is not None:
        mmsi, t_ns, lat, lon = mmsi[order], t_ns[order], lat[order], lon[order]
        sog = sog[order] if sog is not None else None
    return _Partition(mmsi, t_ns, lat, lon, sog)


def _unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique``, by sorting: numpy 2's hash-based
    ``np.unique`` is many times slower on large integer arrays)."""
    s = np.sort(x)
    return s[np.r_[True, s[1:] != s[:-1]]] if s.size else s


def _run_rows(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """All rows of the runs with these first rows and lengths, in order."""
    total = int(lengths.sum())
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)


def _distinct_vessels(key: np.ndarray, vcode: np.ndarray, vessels: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Per distinct ``key`` (ascending): how many distinct vessels have it (``n_v``) and
    the vessel (MMSI) when only one has it (``alone``, else -1). ``vcode`` indexes
    ``vessels``; ``key`` is non-negative."""
    if key.size == 0:
        e = np.zeros(0, np.int64)
        return {"key": e, "n_v": e, "alone": e}
    nv = max(int(vessels.size), 1)
    if int(key.max()) < (1 << 62) // nv:
        u = _unique(key * nv + vcode)
        uk, uv = u // nv, u % nv
    else:
        o = np.lexsort((vcode, key))
        k2, v2 = key[o], vcode[o]
        d = np.r_[True, (k2[1:] != k2[:-1]) | (v2[1:] != v2[:-1])]
        uk, uv = k2[d], v2[d]
    first = np.flatnonzero(np.r_[True, uk[1:] != uk[:-1]])
    n_v = np.diff(np.r_[first, uk.size])
    return {"key": uk[first], "n_v": n_v,
            "alone": np.where(n_v == 1, vessels[uv[first]], -1).astype(np.int64)}


# ---------------------------------------------------------------------------------------
# step 1: the reporting interval


def interval_partial(tracks: pd.DataFrame | _Partition, opts: ReceptionOptions, *,
                     moving_min_kn: float = _MOVING_KN) -> dict[str, np.ndarray]:
    """Step 1a on one partition: per vessel, how many intervals qualify for the median
    (positive, shorter than ``max_interval_h``), all and starting under way.

    Returns
    -------
    dict
        ``mmsi`` (ascending), ``n_ok``, ``n_ok_m``.
    """
    p = _partition(tracks)
    if p.n == 0:
        e = np.zeros(0, np.int64)
        return {"mmsi": e, "n_ok": e, "n_ok_m": e}
    ok, ok_m = p.qualifying(opts.max_interval_h, moving_min_kn)
    n_ok = p.per_vessel(ok)
    return {"mmsi": p.vessels, "n_ok": n_ok,
            "n_ok_m": p.per_vessel(ok_m) if ok_m is not None else np.zeros_like(n_ok)}


def interval_plan(parts: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Step 1b: which intervals the median samples. Those under way when at least
    :data:`MIN_INTERVALS` are, else all qualifying ones; of them every ``step``-th in
    (mmsi, time) order, at most about :data:`MEDIAN_SAMPLE` (``offset``: how many come
    before each vessel's)."""
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


def interval_sample(tracks: pd.DataFrame | _Partition, opts: ReceptionOptions,
                    plan: dict[str, Any], *, moving_min_kn: float = _MOVING_KN) -> np.ndarray:
    """Step 1c on one partition: its intervals (ns) in the sample of ``plan``."""
    p = _partition(tracks)
    if not plan["enough"] or p.n == 0:
        return np.zeros(0, np.int64)
    ok, ok_m = p.qualifying(opts.max_interval_h, moving_min_kn)
    use = ok if not plan["moving"] else ok_m if ok_m is not None else np.zeros_like(ok)
    idx = np.flatnonzero(use)
    step = int(plan["step"])
    count = p.per_vessel(use)  # qualifying intervals of each vessel
    local = np.cumsum(count) - count  # of the vessels before it, here
    glob = plan["offset"][np.searchsorted(plan["mmsi"], p.vessels)]  # in the whole run
    # a vessel's k-th interval is sampled when (glob + k) % step == 0
    first = (-glob) % step
    take = np.where(count > first, (count - first + step - 1) // step, 0)
    at = np.repeat(local + first - step * (np.cumsum(take) - take), take)
    return p.dt[idx[at + step * np.arange(int(take.sum()))]]


def merge_interval(samples: list[np.ndarray], plan: dict[str, Any]) -> float:
    """Step 1d: the reporting interval, seconds (NaN when too few intervals qualify)."""
    if not plan["enough"]:
        return float("nan")
    return float(np.median(np.concatenate(samples))) / 1e9


def _estimate(p: _Partition, opts: ReceptionOptions, moving_min_kn: float) -> float:
    """Step 1 on one partition holding every vessel."""
    plan = interval_plan([interval_partial(p, opts, moving_min_kn=moving_min_kn)])
    return merge_interval([interval_sample(p, opts, plan, moving_min_kn=moving_min_kn)], plan)


def _interval_from_sorted(mmsi_o: np.ndarray, t_o: np.ndarray, moving_o: np.ndarray | None,
                          max_interval_h: float) -> float:
    """The reporting interval (:func:`estimate_report_interval_s`) from arrays sorted by
    (vessel, time); ``moving_o``: whether each report is under way."""
    p = _Partition(np.asarray(mmsi_o, np.int64), np.asarray(t_o, np.int64), np.zeros(0),
                   np.zeros(0), None if moving_o is None else np.asarray(moving_o, np.float64))
    return _estimate(p, ReceptionOptions(max_interval_h=max_interval_h), 1.0)


def estimate_report_interval_s(tracks: pd.DataFrame, *, moving_min_kn: float = 3.0,
                               max_interval_h: float = 6.0,
                               order: np.ndarray | None = None) -> float:
    """Effective reporting interval of the data: the median interval between consecutive
    reports of a vessel under way, in seconds.

    Intervals count only when positive, shorter than ``max_interval_h`` (hours; longer
    silences are gaps) and starting at a report with ``sog_kn`` at least ``moving_min_kn``
    (all intervals when the table has no speeds or fewer than :data:`MIN_INTERVALS`
    intervals under way). Heard intervals outnumber missed ones by far (one silence of
    hours against hundreds of reports in covered water), so the median is the rate in
    well-covered water: about 2-10 s for a raw terrestrial feed (ITU-R M.1371), 60 s for a
    dump thinned to one report a minute (MarineCadastre), 1800 s for one thinned to one
    every 30 minutes. Over more than ``2 x`` :data:`MEDIAN_SAMPLE` intervals, the median
    is that of every ``step``-th in (mmsi, time) order.

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
    t_ns = timestamp_ns(tracks["timestamp"])
    sog = (tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)
           if "sog_kn" in tracks else None)
    if order is None:
        order = mmsi_time_order(mmsi, t_ns)
    p = _Partition(mmsi[order], t_ns[order], np.zeros(0), np.zeros(0),
                   None if sog is None else sog[order])
    return _estimate(p, ReceptionOptions(max_interval_h=max_interval_h), moving_min_kn)


# ---------------------------------------------------------------------------------------
# step 2: reception quality per cell-month


def quality_partial(tracks: pd.DataFrame | _Partition, opts: ReceptionOptions
                    ) -> dict[str, Any]:
    """Step 2a on one partition: per (cell-month, vessel), its reports and its heard and
    missed hours.

    The options' reporting interval must be known (or ``None``: no scaling).

    Returns
    -------
    dict
        ``n`` (rows); per (cell-month, vessel) ``cell``, ``month`` (months since
        1970-01), ``mmsi``, ``reports``, ``heard_h``, ``missed_h`` and ``m_only`` (crossed
        unheard, no report there), in the order of first appearance in (mmsi, time)
        order (the order the hours of the vessels of a cell-month are summed in); the
        distinct ``report_cells``; ``t_lo``, ``t_hi`` (ns).
    """
    p = _partition(tracks)
    n = p.n
    if n == 0:
        return {"n": 0}
    cell_deg = opts.cell_deg
    heard_ns = int(opts.scaled()[0] * _NS_PER_H)
    max_ns = int(opts.max_interval_h * _NS_PER_H)
    cid = p.cells(cell_deg)
    _, m0 = p.months
    rs, r_len = p.runs(cell_deg)
    r_cid = cid[rs]
    valid = r_cid >= 0
    rs, r_len, r_cid = rs[valid], r_len[valid], r_cid[valid]
    n_runs = rs.size
    # missed intervals: the cells on the line between the two reports
    dt = p.dt
    long = np.flatnonzero(dt > heard_ns)
    m_idx = long[dt[long] < max_ns]
    m_idx = m_idx[p.mmsi[m_idx] == p.mmsi[m_idx + 1]]
    a_rows, b_rows = m_idx, m_idx + 1
    mi, mc = _missed_cells(p.lat[a_rows], p.lon[a_rows], p.lat[b_rows], p.lon[b_rows],
                           cell_deg)
    n_cells = np.bincount(mi, minlength=m_idx.size)
    m_w = (dt[m_idx] / _NS_PER_H)[mi] / np.maximum(n_cells[mi], 1)  # spread over them
    # (cell-month, vessel) of every run and every missed cell; numbered in the order of
    # first appearance
    cm_u, cm_code = np.unique(np.concatenate([
        r_cid * _MONTH_SPAN + (p.month_of(rs) - m0),
        mc * _MONTH_SPAN + (p.month_of(a_rows)[mi] - m0)]), return_inverse=True)
    nv = int(p.vessel_starts.size)
    vc = np.concatenate([p.vessel_code(rs), p.vessel_code(a_rows)[mi]])
    pu, first, inv = np.unique(cm_code * nv + vc, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    rank = np.empty(pu.size, dtype=np.int64)
    rank[by_first] = np.arange(pu.size)
    code = rank[inv]
    n_pairs = pu.size
    run_code, m_code = code[:n_runs], code[n_runs:]
    pk = pu[by_first]
    cm = cm_u[pk // nv]
    # heard time: each interval for its first report's run, summed in row order
    if n_runs == p.runs(cell_deg)[0].size:  # every row has a cell
        row_code = np.repeat(run_code, r_len)
    else:
        row_code = np.full(n, n_pairs, dtype=np.int64)
        row_code[_run_rows(rs, r_len)] = np.repeat(run_code, r_len)
    # (0 for the other intervals: those longer, or between two vessels; none is < 0)
    w = dt / _NS_PER_H
    w[long] = 0.0
    w[p.vessel_starts[1:] - 1] = 0.0
    heard_h = np.bincount(row_code[:-1], weights=w, minlength=n_pairs + 1)[:n_pairs]
    return {
        "n": n,
        "cell": cm // _MONTH_SPAN,
        "month": cm % _MONTH_SPAN + m0,
        "mmsi": p.vessels[pk % nv],
        "reports": np.bincount(run_code, weights=r_len, minlength=n_pairs).astype(np.int64),
        "heard_h": heard_h,
        "missed_h": np.bincount(m_code, weights=m_w, minlength=n_pairs),
        "m_only": first[by_first] >= n_runs,
        "report_cells": _unique(r_cid),
        "t_lo": p.t_range[0],
        "t_hi": p.t_range[1],
    }


@dataclass
class QualityTable:
    """Step 2's merged result: the cell-month table and quality lookup, the data's time
    range and the occupancy grid's time bins (what step 3 needs)."""

    opts: ReceptionOptions
    n: int
    cells: pd.DataFrame
    cell_keys: np.ndarray
    quality: np.ndarray
    t_lo: int
    t_hi: int
    bin_h: float
    n_bins: int
    prior: float = 0.5

    def quality_of(self, cid: np.ndarray, month: np.ndarray) -> np.ndarray:
        """Quality of cells (ids of ``opts.cell_deg``) in months (since 1970-01)."""
        return _lookup_quality(self.cell_keys, self.quality, self.prior, cid, month)

    def quality_at(self, lat: np.ndarray, lon: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
        """Quality of the cell and month of each point."""
        return self.quality_of(cell_ids(lat, lon, self.opts.cell_deg), _month_index(t_ns))


def merge_quality(parts: list[dict[str, Any]], opts: ReceptionOptions) -> QualityTable:
    """Step 2b: the cell-month table from the partitions' :func:`quality_partial`.

    A cell-month's hours are summed over its vessels in (has a report there, mmsi, first
    appearance) order, whatever the partitioning: the table is the same for any split.
    """
    parts = [p for p in parts if p.get("n", 0)]
    n = sum(int(p["n"]) for p in parts)
    prior = opts.prior_heard / (opts.prior_heard + opts.prior_missed)
    if n == 0:
        return QualityTable(opts, 0, pd.DataFrame(), np.zeros(0, np.int64), np.zeros(0),
                            0, 0, opts.bin_h, 1, prior)
    cols = ("cell", "month", "reports", "heard_h", "missed_h")
    cat = {c: np.concatenate([p[c] for p in parts]) for c in cols}
    if len(parts) > 1:  # one partition: already in this order
        pos = np.concatenate([np.arange(p["cell"].size) for p in parts])
        o = np.lexsort((pos, np.concatenate([p["mmsi"] for p in parts]),
                        np.concatenate([p["m_only"] for p in parts])))
        cat = {c: v[o] for c, v in cat.items()}
    m0 = int(cat["month"].min()) if cat["month"].size else 0
    cu, cc = np.unique(cat["cell"] * _MONTH_SPAN + (cat["month"] - m0), return_inverse=True)
    k = cu.size
    table = pd.DataFrame({
        "cell": cu // _MONTH_SPAN,
        "month": cu % _MONTH_SPAN + m0,
        "reports": np.bincount(cc, weights=cat["reports"], minlength=k).astype(np.int64),
        "vessels": np.bincount(cc, minlength=k),
        "well_heard": np.bincount(cc, weights=cat["heard_h"] >= cat["missed_h"],
                                  minlength=k).astype(np.int64),
        "heard_h": np.bincount(cc, weights=cat["heard_h"], minlength=k).astype(np.float64),
        "missed_h": np.bincount(cc, weights=cat["missed_h"], minlength=k).astype(np.float64),
    })
    table["quality"] = (table["well_heard"] + opts.prior_heard) / (
        table["vessels"] + opts.prior_heard + opts.prior_missed)
    # data hours within each month (the data may not cover whole months)
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
    # sorted like cu: by cell, then month
    cell_keys = table["cell"].to_numpy() * 100_000 + (table["month"].to_numpy() + 10_000)
    quality = table["quality"].to_numpy()
    table["month"] = table["month"].to_numpy().astype("datetime64[M]").astype(str)
    table = table.sort_values(["month", "cell"], ignore_index=True)
    # time bins of the occupancy grid, widened to hold at most max_bins cells x bins
    span_h = (t_hi - t_lo) / _NS_PER_H
    n_occ = int(_unique(np.concatenate([p["report_cells"] for p in parts])).size)
    bin_h = opts.bin_h
    n_bins = int(np.floor(span_h / bin_h)) + 1
    while n_occ * (n_bins + 1) > opts.max_bins and n_bins > 1:
        bin_h *= 2.0
        n_bins = int(np.floor(span_h / bin_h)) + 1
    return QualityTable(opts, n, table, cell_keys, quality, t_lo, t_hi, bin_h, n_bins, prior)


# ---------------------------------------------------------------------------------------
# step 3: occupancy and satellite passes


def _bin_vessels(p: _Partition, rows: np.ndarray | None, cid: np.ndarray, tb: np.ndarray,
                 n_bins: int) -> dict[str, np.ndarray]:
    """:func:`_distinct_vessels` of ``cid * n_bins + tb`` over ``rows`` (all rows when
    ``None``; ``cid``, ``tb`` given for those rows), leaving out cells < 0. Consecutive
    rows of one vessel in one cell and bin are collapsed first."""
    if cid.size == 0:
        return _distinct_vessels(cid, cid, p.vessels)
    brk = (cid[1:] != cid[:-1]) | (tb[1:] != tb[:-1])
    if rows is None:
        brk[p.vessel_starts[1:] - 1] = True
    else:
        brk |= p.mmsi[rows[1:]] != p.mmsi[rows[:-1]]
    s = np.r_[0, np.flatnonzero(brk) + 1]
    s = s[cid[s] >= 0]
    return _distinct_vessels(cid[s] * n_bins + tb[s],
                             p.vessel_code(s if rows is None else rows[s]), p.vessels)


def occupancy_partial(tracks: pd.DataFrame | _Partition, q: QualityTable
                      ) -> dict[str, Any]:
    """Step 3a on one partition: its share of the occupancy grids and of the vessels
    heard per satellite-pass bin.

    Returns
    -------
    dict
        ``local`` and ``wide``: per occupied (cell, time bin) (``key = cell * n_bins +
        bin``), the distinct vessels heard and the lone one (:func:`_distinct_vessels`),
        on the model's grid and on the coarse grid of the reports in poorly covered
        water; ``pass_bins``, ``pass_counts``: distinct vessels heard in poorly covered
        water per pass bin.
    """
    p = _partition(tracks)
    e = np.zeros(0, np.int64)
    if p.n == 0:
        none = {"key": e, "n_v": e, "alone": e}
        return {"local": none, "wide": none, "pass_bins": e, "pass_counts": e}
    opts = q.opts
    cid = p.cells(opts.cell_deg)
    bin_ns = int(round(q.bin_h * _NS_PER_H))
    tb = (p.t_ns - q.t_lo) // bin_ns
    local = _bin_vessels(p, None, cid, tb, q.n_bins)
    # the same on a coarse grid, from the reports in poorly covered water only: in
    # satellite-only water the receptions come in bursts (passes) over a wide area
    rs, r_len = p.runs(opts.cell_deg)
    r_cid = cid[rs]
    poor = (r_cid >= 0) & (q.quality_of(r_cid, p.month_of(rs)) < opts.poor_quality)
    rows = _run_rows(rs[poor], r_len[poor])
    wide = _bin_vessels(p, rows, cell_ids(p.lat[rows], p.lon[rows], opts.wide_cell_deg),
                        tb[rows], q.n_bins)
    # satellite passes: distinct vessels heard in poorly covered water per pass bin
    w = int(round(opts.scaled()[1] * 60e9))
    passes = _distinct_vessels((p.t_ns[rows] - q.t_lo) // w, p.vessel_code(rows), p.vessels)
    return {"local": local, "wide": wide, "pass_bins": passes["key"],
            "pass_counts": passes["n_v"]}


def _merge_passes(parts: list[dict[str, Any]], q: QualityTable
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Satellite passes: a bin of ``pass_bin_min`` (scaled) minutes is a pass bin when at
    least ``pass_min_vessels`` distinct vessels were heard in poorly covered water in
    it; runs of consecutive pass bins are passes. Each pass's start and end (exclusive),
    ns."""
    e = np.zeros(0, np.int64)
    bins = np.concatenate([p["pass_bins"] for p in parts]) if parts else e
    if bins.size == 0:
        return e, e
    counts = np.concatenate([p["pass_counts"] for p in parts])
    w = int(round(q.opts.scaled()[1] * 60e9))
    count = np.bincount(bins, weights=counts, minlength=int(bins.max()) + 1)
    hit = count >= q.opts.pass_min_vessels
    if not hit.any():
        return e, e
    prev = np.r_[False, hit[:-1]]
    nxt = np.r_[hit[1:], False]
    starts = np.flatnonzero(hit & ~prev)
    ends = np.flatnonzero(hit & ~nxt) + 1
    return starts.astype(np.int64) * w + q.t_lo, ends.astype(np.int64) * w + q.t_lo


def _empty_model(opts: ReceptionOptions) -> ReceptionModel:
    empty = pd.DataFrame({c: pd.Series([], dtype="float64") for c in (
        "cell", "month", "lat", "lon", "reports", "vessels", "heard", "missed",
        "quality", "reports_per_h")})
    return ReceptionModel(empty, opts.cell_deg, opts.heard_max_h, opts.max_interval_h,
                          opts.prior_heard, opts.prior_missed, opts.bin_h, 0,
                          opts.wide_cell_deg, opts.poor_quality)


def model_from_partials(q: QualityTable, parts: list[dict[str, Any]]) -> ReceptionModel:
    """Step 3b: the reception model from step 2's table and the partitions'
    :func:`occupancy_partial`."""
    opts = q.opts
    if q.n == 0:
        return _empty_model(opts)
    heard_max_h, pass_bin_min = opts.scaled()
    p_start, p_end = _merge_passes(parts, q)
    ri = opts.report_interval_s
    return ReceptionModel(
        cells=q.cells,
        cell_deg=opts.cell_deg,
        heard_max_h=heard_max_h,
        max_interval_h=opts.max_interval_h,
        prior_heard=opts.prior_heard,
        prior_missed=opts.prior_missed,
        bin_h=q.bin_h,
        t0_ns=q.t_lo,
        _cell_keys=q.cell_keys,
        _quality=q.quality,
        wide_cell_deg=opts.wide_cell_deg,
        poor_quality=opts.poor_quality,
        _local=_Occupancy.from_parts([p["local"] for p in parts], q.n_bins),
        _wide=_Occupancy.from_parts([p["wide"] for p in parts], q.n_bins),
        pass_start_ns=p_start,
        pass_end_ns=p_end,
        pass_bin_min=pass_bin_min,
        pass_min_vessels=opts.pass_min_vessels,
        report_interval_s=float("nan") if ri is None else float(ri),
    )


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
    opts = ReceptionOptions(
        cell_deg=cell_deg, heard_max_h=heard_max_h, max_interval_h=max_interval_h,
        prior_heard=prior_heard, prior_missed=prior_missed, bin_h=bin_h, max_bins=max_bins,
        wide_cell_deg=wide_cell_deg, poor_quality=poor_quality, pass_bin_min=pass_bin_min,
        pass_min_vessels=pass_min_vessels, report_interval_s=report_interval_s,
        heard_max_intervals=heard_max_intervals)
    p = _partition(tracks, order)
    if p.n == 0:
        return _empty_model(opts)
    if report_interval_s is None:
        opts = opts.with_interval(_estimate(p, opts, _MOVING_KN))
    q = merge_quality([quality_partial(p, opts)], opts)
    return model_from_partials(q, [occupancy_partial(p, q)])


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
    >>> g = pd.DataFrame({"start_time": t["timestamp"][:1], "end_time": t["timestamp"][3:].array,
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
