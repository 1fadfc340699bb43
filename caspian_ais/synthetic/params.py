"""Parameters of the simulator, with their defaults and where the defaults come from.

See ``docs/simulator.md`` for the discussion. Every field of :class:`SimulationParams` can
be passed as a keyword to :func:`caspian_ais.synthetic.simulate` and
:func:`caspian_ais.synthetic.write_scenario`.

The dark-activity profile
-------------------------
Each vessel draws a propensity ``u`` (uniform 0-1). In a month ``m`` the vessel is
*dark-active* when ``u < dark_share(m) * dark_flag_weight[flag]``. A dark-active vessel
turns each departure into a dark behaviour with probability ``p_dark_opportunity``.
:data:`DEFAULT_DARK_SHARE` steps up between August and September 2022, the jump public
reporting describes for Russian-flagged vessels in the Caspian (Lloyd's List Intelligence
via CNN/WSJ, 2023: about 100 AIS gaps a month in 2022 against more than 600 a month by
mid-2023).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

__all__ = ["DEFAULT_DARK_SHARE", "BEHAVIOURS", "SimulationParams", "dark_share"]

#: Share of (Russian- and Iranian-flagged) vessels that are dark-active, by month: a step
#: function whose keys are the first month ("YYYY-MM") each value applies from.
DEFAULT_DARK_SHARE: dict[str, float] = {"1900-01": 0.06, "2022-09": 0.30}

#: The deliberate behaviours a dark-active vessel chooses from at a departure, with weights.
BEHAVIOURS: dict[str, float] = {
    "dark_port_call": 0.40,
    "berth_blackout": 0.15,
    "dark_transit": 0.13,
    "dark_round_trip": 0.12,
    "sts_meeting": 0.12,
    "spoofing": 0.08,
}


def dark_share(
    month: pd.Period | pd.Timestamp | str, profile: Mapping[str, float] | None = None
) -> float:
    """Share of dark-active vessels in a month under a step profile.

    Parameters
    ----------
    month : pandas.Period, pandas.Timestamp or str
        The month (``"2022-09"``) or any time in it.
    profile : mapping of str to float, optional
        ``{"YYYY-MM": share}`` steps; default :data:`DEFAULT_DARK_SHARE`. Months before the
        first key get the first value.

    Returns
    -------
    float

    Examples
    --------
    >>> dark_share("2022-08"), dark_share("2022-09")
    (0.06, 0.3)
    """
    prof = DEFAULT_DARK_SHARE if profile is None else profile
    key = pd.Period(month, freq="M") if not isinstance(month, pd.Period) else month.asfreq("M")
    steps = sorted((pd.Period(k, freq="M"), float(v)) for k, v in prof.items())
    value = steps[0][1]
    for p, v in steps:
        if p <= key:
            value = v
    return value


@dataclass(frozen=True)
class SimulationParams:
    """Knobs of the simulator (units in the names; defaults documented in docs/simulator.md).

    Attributes
    ----------
    thin_s : int
        Keep one report per vessel per this many seconds (the dump's thinning); the ITU rate
        applies when it is slower (3 min at anchor). 60 = one a minute, like MarineCadastre.
    speed_kn : (float, float)
        Range of service speeds (uniform per vessel), knots.
    canal_speed_kn : float
        Speed in the Volga-Caspian canal and on the river, knots.
    harbour_speed_kn : float
        Speed over the first and last ``harbour_km`` of a voyage, knots.
    harbour_km : float
        Length of the slow manoeuvring stretch at each berth, km.
    flag_mix : mapping
        Share of each flag (default :data:`caspian_ais.synthetic.fleet.DEFAULT_FLAG_MIX`).
    class_b_share : float
        Share of small Class B cargo vessels.
    dark_share_by_month : mapping
        Step profile of dark-active shares (:data:`DEFAULT_DARK_SHARE`).
    dark_flag_weight : mapping
        Multiplier of the dark share by flag (Russia and Iran 1, others 0.15).
    p_dark_opportunity : float
        Probability that a dark-active vessel acts darkly at a departure.
    behaviours : mapping
        Weights of the dark behaviours (:data:`BEHAVIOURS`).
    dark_ports : tuple of str
        Ports where dark port calls happen (Lloyd's List: Anzali, Amirabad, Astrakhan).
    sts_partner_share : float
        Share of vessels that serve as the other side of ship-to-ship meetings.
    anchorage_wait_p : float
        Probability of waiting at anchor off the port before berthing.
    station_range_km : (float, float)
        Range of terrestrial station ranges (Class A), km.
    outage_rate_per_day : float
        Outages per station per day.
    outage_median_h : float
        Median outage length, hours.
    sat_passes_per_day : float
        Mean satellite passes per day.
    terr_p_msg : (float, float)
        Per-message terrestrial reception probability near a station (Class A, Class B).
    sat_p_msg : (float, float)
        Per-message satellite reception probability during a pass (Class A, Class B).
    duplicates_per_vessel_month, out_of_order_per_vessel_month, teleport_per_vessel_month : float
        Expected number of each data fault per vessel and 30 days.
    shared_mmsi_per_vessel_month : float
        Expected number of MMSIs shared by a second ship, per vessel and 30 days.
    guarantee_behaviours : bool
        Make sure every behaviour and fault occurs at least once (forcing it on suitable
        vessels, at times drawn in proportion to the dark share), so that small scenarios
        still exercise every detector.
    reception_gap_min_h : float
        Shortest natural gap written to ``truth_reception_gaps.csv``, hours.
    extra_behaviours : bool
        Add the extra vessels of :mod:`caspian_ais.synthetic.extras` (visible ship-to-ship
        meetings, loitering, identity changes, positions on land, frozen positions, default
        MMSIs). They draw from their own random streams: the other vessels' rows and truth
        are the same either way.
    visible_meetings_per_month, dark_side_meetings_per_month, loitering_per_month : float
        Expected ship-to-ship meetings (pairs) near coastal coverage with both sides
        transmitting and with one side dark, and lone loitering episodes, per 30 days in
        the whole scenario.
    identity_changes_per_month, on_land_per_month, frozen_positions_per_month : float
        Expected name/IMO/flag changes, on-land position bursts and frozen-position
        episodes per 30 days in the whole scenario.
    default_mmsi_per_month : float
        Expected ships with a default or invalid MMSI per 30 days.
    """

    thin_s: int = 60
    speed_kn: tuple[float, float] = (8.0, 12.0)
    canal_speed_kn: float = 7.0
    harbour_speed_kn: float = 5.0
    harbour_km: float = 3.0
    flag_mix: Mapping[str, float] | None = None
    class_b_share: float = 0.05
    dark_share_by_month: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_DARK_SHARE)
    )
    dark_flag_weight: Mapping[str, float] = field(
        default_factory=lambda: {"RU": 1.0, "IR": 1.0, "KZ": 0.15, "AZ": 0.15, "TM": 0.15}
    )
    p_dark_opportunity: float = 0.6
    behaviours: Mapping[str, float] = field(default_factory=lambda: dict(BEHAVIOURS))
    dark_ports: tuple[str, ...] = ("Bandar Anzali", "Bandar Amirabad", "Astrakhan")
    sts_partner_share: float = 0.06
    anchorage_wait_p: float = 0.3
    station_range_km: tuple[float, float] = (40.0, 60.0)
    outage_rate_per_day: float = 1 / 45
    outage_median_h: float = 36.0
    sat_passes_per_day: float = 6.0
    terr_p_msg: tuple[float, float] = (0.9, 0.8)
    sat_p_msg: tuple[float, float] = (0.08, 0.03)
    duplicates_per_vessel_month: float = 0.3
    out_of_order_per_vessel_month: float = 0.2
    teleport_per_vessel_month: float = 0.05
    shared_mmsi_per_vessel_month: float = 0.01
    guarantee_behaviours: bool = True
    reception_gap_min_h: float = 2.0
    extra_behaviours: bool = True
    visible_meetings_per_month: float = 1.5
    dark_side_meetings_per_month: float = 1.5
    loitering_per_month: float = 2.0
    identity_changes_per_month: float = 1.5
    on_land_per_month: float = 1.0
    frozen_positions_per_month: float = 1.0
    default_mmsi_per_month: float = 0.5

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SimulationParams:
        """Build parameters from keywords, rejecting unknown names with a clear message."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(
                f"unknown simulation parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        return replace(cls(), **kwargs)
