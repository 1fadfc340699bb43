"""The extra vessels' meetings and loitering never share a spot at the same time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from caspian_ais.geodesy import haversine_km
from caspian_ais.synthetic import simulate
from caspian_ais.synthetic.extras import _SPOT_CLEAR_KM


def test_meetings_and_loitering_do_not_share_a_spot() -> None:
    # many meetings and loiterings in a short period: without spot booking several fall on
    # one of the few good spots at overlapping times (two ships together, no label)
    sc = simulate(n_vessels=6, days=40, start="2022-08-01", seed=3,
                  visible_meetings_per_month=20.0, dark_side_meetings_per_month=10.0,
                  loitering_per_month=30.0)
    ev = sc.truth["events"]
    extra = ev["detail"].str.contains("both transmitting|near coastal coverage", na=False)
    ev = ev[(ev["kind"] == "loitering") | ((ev["kind"] == "sts_meeting") & extra)
            ].reset_index(drop=True)
    assert (ev["kind"] == "sts_meeting").sum() >= 20 and (ev["kind"] == "loitering").sum() >= 10
    # one row per occupied spot: a meeting's two ships together
    key = np.where(ev["kind"] == "sts_meeting",
                   [f"{min(a, b)}-{max(a, b)}-{t.value}" for a, b, t in
                    zip(ev["mmsi"], ev["other_mmsi"].fillna(-1).astype("int64"),
                        ev["start_time"], strict=True)],
                   ev.index.astype(str))
    occ = ev.assign(key=key).drop_duplicates("key").reset_index(drop=True)
    t0 = occ["start_time"].to_numpy()
    t1 = occ["end_time"].to_numpy()
    i, j = np.triu_indices(len(occ), k=1)
    overlap = (t0[i] <= t1[j]) & (t0[j] <= t1[i])
    d = haversine_km(occ["lat"].to_numpy()[i], occ["lon"].to_numpy()[i],
                     occ["lat"].to_numpy()[j], occ["lon"].to_numpy()[j])
    clash = overlap & (d < _SPOT_CLEAR_KM)
    assert not clash.any(), occ.loc[np.r_[i[clash], j[clash]],
                                    ["kind", "mmsi", "start_time", "end_time", "lat", "lon"]]
    assert pd.Series(d).notna().all()
