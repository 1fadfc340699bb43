"""movingpandas interoperability: track tables to and from ``TrajectoryCollection``.

:func:`to_trajectories` turns a canonical track table into a
:class:`movingpandas.TrajectoryCollection` with one trajectory per stretch of
continuous reporting (split at the detected AIS gaps); :func:`as_tracks` turns a
``TrajectoryCollection`` (or a single ``Trajectory``, or a point ``GeoDataFrame``)
back into the canonical table, so that every caspian_ais function that takes a track
table takes a ``TrajectoryCollection`` too.

movingpandas is imported only inside the functions that need it: importing this
module (or :mod:`caspian_ais`) does not import it.

Notes
-----
movingpandas keeps times as naive ``datetime64`` (it drops the time zone); caspian_ais
times are UTC, so the naive times in a collection made here are UTC, and
:func:`as_tracks` reads naive times back as UTC. movingpandas drops trajectories of a
single point: a lone report between two gaps is not in the collection.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from movingpandas import TrajectoryCollection

__all__ = ["to_trajectories", "as_tracks", "is_trajectory_collection", "segment_ids"]


def _import_movingpandas() -> Any:
    with warnings.catch_warnings():
        # movingpandas warns at import when its optional smoothing dependency is absent
        warnings.simplefilter("ignore", UserWarning)
        import movingpandas

    return movingpandas


def is_trajectory_collection(obj: object) -> bool:
    """Whether ``obj`` is a movingpandas ``TrajectoryCollection`` or ``Trajectory``.

    Does not import movingpandas: an object of its classes can only exist once it has
    been imported.

    Examples
    --------
    >>> import pandas as pd
    >>> is_trajectory_collection(pd.DataFrame())
    False
    """
    mpd = sys.modules.get("movingpandas")
    if mpd is None:
        return False
    return isinstance(obj, (mpd.TrajectoryCollection, mpd.Trajectory))


def as_tracks(obj: Any) -> pd.DataFrame:
    """Return a canonical track table for a table or a movingpandas object.

    Parameters
    ----------
    obj : DataFrame, GeoDataFrame, movingpandas TrajectoryCollection or Trajectory
        A canonical table is returned as it is (no copy). A point ``GeoDataFrame``
        without ``lat``/``lon`` gets them from its geometry (reprojected to WGS84). A
        trajectory or collection becomes one row per point; its ``mmsi`` comes from an
        ``mmsi`` column, else from the object id, else from the trajectory id.

    Returns
    -------
    pandas.DataFrame
        For movingpandas input, a canonical table (see :mod:`caspian_ais.schema`)
        sorted by ``mmsi`` and ``timestamp``; naive times are taken as UTC.

    Raises
    ------
    TypeError
        For anything else.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"mmsi": [273000001], "lat": [45.0], "lon": [49.0],
    ...                   "timestamp": pd.to_datetime(["2023-06-01"], utc=True)})
    >>> as_tracks(t) is t
    True
    """
    if is_trajectory_collection(obj):
        return _from_movingpandas(obj)
    if isinstance(obj, pd.DataFrame):
        if ("lat" not in obj.columns or "lon" not in obj.columns) and "geometry" in obj.columns:
            return _from_points(obj)
        return obj
    raise TypeError(
        f"expected a track table (pandas.DataFrame) or a movingpandas TrajectoryCollection, "
        f"got {type(obj).__name__}"
    )


def _from_points(gdf: Any) -> pd.DataFrame:
    import geopandas as gpd

    if not isinstance(gdf, gpd.GeoDataFrame):
        gdf = gpd.GeoDataFrame(gdf, geometry="geometry")
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df["lon"] = gdf.geometry.x.to_numpy()
    df["lat"] = gdf.geometry.y.to_numpy()
    return df


def _from_movingpandas(obj: Any) -> pd.DataFrame:
    from caspian_ais.schema import to_canonical

    mpd = _import_movingpandas()
    if isinstance(obj, mpd.Trajectory):
        obj = mpd.TrajectoryCollection([obj])
    if len(obj.trajectories) == 0:
        from caspian_ais.schema import empty_table

        return empty_table()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="movingpandas")
        points = obj.to_point_gdf()
    t_name = points.index.name or "t"
    df = _from_points(points.reset_index().rename(columns={t_name: "timestamp"}))
    if "mmsi" not in df.columns:
        ids: list[Any] = []
        for traj in obj.trajectories:
            ident = traj.obj_id if getattr(traj, "obj_id", None) is not None else traj.id
            ids.extend([ident] * len(traj.df))
        mmsi = pd.to_numeric(
            pd.Series(ids, dtype=object).astype(str).str.split("_").str[0], errors="coerce"
        )
        if mmsi.isna().any():
            raise ValueError(
                "cannot find the MMSI of every trajectory: give the points an 'mmsi' column "
                "or use MMSIs as object ids"
            )
        df["mmsi"] = mmsi.to_numpy(dtype="int64")
    out = to_canonical(df, mask_sentinels=False)
    order = np.lexsort((out["timestamp"].to_numpy(), out["mmsi"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def segment_ids(tracks: pd.DataFrame, gaps: pd.DataFrame) -> np.ndarray:
    """Index of the continuous-reporting stretch of each report, counted per vessel.

    A vessel's reports up to and including the start of its first gap are segment 0,
    those from the end of that gap to the start of the next are segment 1, and so on.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Canonical table (``mmsi``, ``timestamp``), any row order.
    gaps : pandas.DataFrame
        Gap table (``mmsi``, ``start_time``) of the same tracks.

    Returns
    -------
    numpy.ndarray of int64
        One segment index per row of ``tracks``, in the rows' order.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"mmsi": [1, 1, 1], "timestamp": pd.to_datetime(
    ...     ["2023-06-01 00:00", "2023-06-01 01:00", "2023-06-01 09:00"], utc=True)})
    >>> g = pd.DataFrame({"mmsi": [1],
    ...                   "start_time": pd.to_datetime(["2023-06-01 01:00"], utc=True)})
    >>> segment_ids(t, g).tolist()
    [0, 0, 1]
    """
    n = len(tracks)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if gaps is None or len(gaps) == 0:
        return np.zeros(n, dtype=np.int64)
    t = _ns(tracks["timestamp"])
    m = tracks["mmsi"].to_numpy(dtype="int64")
    gt = _ns(gaps["start_time"])
    gm = gaps["mmsi"].to_numpy(dtype="int64")
    # events: reports (kind 0) and gap starts (kind 1); at equal times a report comes
    # first, so the report at a gap's start stays in the segment before the gap
    mm = np.r_[m, gm]
    tt = np.r_[t, gt]
    kind = np.r_[np.zeros(n, dtype=np.int8), np.ones(gt.size, dtype=np.int8)]
    order = np.lexsort((kind, tt, mm))
    is_gap = kind[order].astype(np.int64)
    csum = np.cumsum(is_gap)
    mm_sorted = mm[order]
    first = np.r_[True, mm_sorted[1:] != mm_sorted[:-1]]
    # gaps counted before each vessel's first event
    base = np.maximum.accumulate(np.where(first, csum - is_gap, 0))
    seg_sorted = csum - base
    out = np.empty(n, dtype=np.int64)
    rows = order < n
    out[order[rows]] = seg_sorted[rows]
    return out


def _ns(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(s.dtype):
        s = pd.to_datetime(s, utc=True).dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[ns]").view("int64")


def to_trajectories(
    tracks: Any,
    split_at_gaps: bool = True,
    *,
    gaps: pd.DataFrame | None = None,
    min_gap: Any = "6h",
) -> TrajectoryCollection:
    """Turn a track table into a movingpandas ``TrajectoryCollection``.

    Parameters
    ----------
    tracks : pandas.DataFrame or movingpandas.TrajectoryCollection
        Canonical track table (see :mod:`caspian_ais.schema`), or a collection (which is
        flattened with :func:`as_tracks` and split again).
    split_at_gaps : bool, default True
        One trajectory per stretch of continuous reporting: split each vessel's track
        at its AIS gaps, so that no trajectory line crosses a silence. ``False`` gives
        one trajectory per vessel.
    gaps : pandas.DataFrame, optional
        The gap table to split at (e.g. ``Analysis.gaps``). Default: detected here
        with :func:`caspian_ais.detect_gaps` and ``min_gap``.
    min_gap : str, Timedelta or float (hours), default "6h"
        Shortest silence split at when ``gaps`` is not given.

    Returns
    -------
    movingpandas.TrajectoryCollection
        Trajectory ids ``"<mmsi>_<k>"`` (``k`` = 0, 1, ... the stretch index within
        the vessel; ``"<mmsi>"`` without splitting), object id = MMSI (int). Points
        carry the table's columns; geometry in WGS84 (EPSG:4326); times naive UTC.
        Stretches of a single report are dropped by movingpandas.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"mmsi": [273000001] * 4, "lat": [45.0, 45.1, 45.5, 45.6],
    ...                   "lon": [49.0, 49.1, 49.5, 49.6], "timestamp": pd.to_datetime(
    ...     ["2023-06-01 00:00", "2023-06-01 01:00", "2023-06-01 12:00", "2023-06-01 13:00"],
    ...     utc=True)})
    >>> tc = to_trajectories(t)
    >>> [traj.id for traj in tc]
    ['273000001_0', '273000001_1']
    """
    mpd = _import_movingpandas()
    import geopandas as gpd

    df = as_tracks(tracks)
    for col in ("mmsi", "timestamp", "lat", "lon"):
        if col not in df.columns:
            raise KeyError(f"tracks lacks column {col!r}")
    df = df[df["lat"].notna() & df["lon"].notna() & df["timestamp"].notna()]
    mmsi = df["mmsi"].to_numpy(dtype="int64")
    if split_at_gaps:
        if gaps is None:
            from caspian_ais.gaps import detect_gaps

            gaps = detect_gaps(df, min_gap, enrich=False)
        seg = segment_ids(df, gaps)
        traj_id = np.char.add(np.char.add(mmsi.astype(str), "_"), seg.astype(str))
    else:
        traj_id = mmsi.astype(str)
    data = pd.DataFrame(df).copy()
    data["traj_id"] = traj_id.astype(object)
    ts = data["timestamp"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        data["timestamp"] = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    data = data.sort_values(["mmsi", "timestamp"], kind="stable")
    gdf = gpd.GeoDataFrame(
        data,
        geometry=gpd.points_from_xy(data["lon"].to_numpy(), data["lat"].to_numpy()),
        crs="EPSG:4326",
    )
    with warnings.catch_warnings():
        # movingpandas' own deprecation warnings are not the user's to fix
        warnings.filterwarnings("ignore", module="movingpandas")
        warnings.simplefilter("ignore", UserWarning)
        return mpd.TrajectoryCollection(
            gdf, traj_id_col="traj_id", obj_id_col="mmsi", t="timestamp"
        )
