"""The synthetic fleet: identities, flags, ship types, dimensions, speeds and trade patterns.

Identities are invented. MMSIs carry the real Maritime Identification Digits of the five
Caspian states (Russia 273, Iran 422, Kazakhstan 436, Azerbaijan 423, Turkmenistan 434)
followed by random digits, so one may coincide with a real ship's. Names are drawn from
word lists and IMO numbers from 1000000-1999999 (with a valid check digit), a range below
the ship numbers in use (those start at 5000000), so a synthetic vessel cannot be mistaken
for a real one by its IMO number. Do not use synthetic data to make claims about real ships.

Dimensions follow the fleets that trade on the Caspian: river-sea general cargo ships of the
Volgo-Don / Volga-Balt / Omskiy types (90-140 m, draught 3.2-4.6 m, the limit of the
Volga-Caspian canal), Volgoneft-type tankers, and the Azerbaijani, Kazakh and Turkmen
rail/ro-ro ferries between Alat/Baku, Aktau, Kuryk and Turkmenbashi.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from caspian_ais.ports import port_index

__all__ = [
    "MID_OF_FLAG",
    "DEFAULT_FLAG_MIX",
    "SHIP_TYPE_CARGO",
    "SHIP_TYPE_TANKER",
    "SHIP_TYPE_PASSENGER",
    "CANAL_MAX_DRAUGHT_M",
    "FERRY_LINES",
    "imo_check_digit",
    "make_fleet",
    "port_weights",
]

#: Maritime Identification Digits of the Caspian states (ITU MARS).
MID_OF_FLAG: dict[str, int] = {"RU": 273, "IR": 422, "KZ": 436, "AZ": 423, "TM": 434}
#: Share of each flag in the default fleet.
DEFAULT_FLAG_MIX: dict[str, float] = {"RU": 0.36, "IR": 0.30, "KZ": 0.12, "AZ": 0.14, "TM": 0.08}
#: ITU-R M.1371 ship-type codes used by the simulator.
SHIP_TYPE_CARGO, SHIP_TYPE_TANKER, SHIP_TYPE_PASSENGER = 70, 80, 60
#: Deepest draught that can use the Volga-Caspian Ship Canal (navigational depth 5.1 m
#: in the port regulations, less under-keel clearance), m.
CANAL_MAX_DRAUGHT_M: float = 4.6
#: Ferry lines (port names), each served by the ferries assigned to it.
FERRY_LINES: tuple[tuple[str, str], ...] = (
    ("Alat", "Turkmenbashi"),
    ("Alat", "Aktau"),
    ("Baku", "Turkmenbashi"),
    ("Alat", "Kuryk"),
)

# (cargo, tanker, ferry) shares by flag
_TYPE_MIX: dict[str, tuple[float, float, float]] = {
    "RU": (0.80, 0.20, 0.00),
    "IR": (0.85, 0.15, 0.00),
    "KZ": (0.45, 0.35, 0.20),
    "AZ": (0.40, 0.30, 0.30),
    "TM": (0.35, 0.30, 0.35),
}
# destination weights by flag: where a vessel of that flag tends to trade
_PORT_WEIGHTS: dict[str, dict[str, float]] = {
    "RU": {
        "Astrakhan": 0.26,
        "Olya": 0.14,
        "Makhachkala": 0.14,
        "Anzali": 0.16,
        "Amirabad": 0.14,
        "Nowshahr": 0.05,
        "Astara": 0.03,
        "Aktau": 0.03,
        "Baku": 0.03,
        "Turkmenbashi": 0.02,
    },
    "IR": {
        "Anzali": 0.18,
        "Amirabad": 0.18,
        "Nowshahr": 0.08,
        "Astara": 0.04,
        "Astrakhan": 0.22,
        "Olya": 0.12,
        "Makhachkala": 0.10,
        "Aktau": 0.04,
        "Turkmenbashi": 0.02,
        "Baku": 0.02,
    },
    "KZ": {
        "Aktau": 0.30,
        "Kuryk": 0.12,
        "Baku": 0.15,
        "Alat": 0.10,
        "Makhachkala": 0.08,
        "Astrakhan": 0.06,
        "Amirabad": 0.07,
        "Anzali": 0.05,
        "Turkmenbashi": 0.07,
    },
    "AZ": {
        "Baku": 0.25,
        "Alat": 0.22,
        "Turkmenbashi": 0.15,
        "Aktau": 0.12,
        "Kuryk": 0.05,
        "Makhachkala": 0.06,
        "Astrakhan": 0.05,
        "Anzali": 0.05,
        "Amirabad": 0.05,
    },
    "TM": {
        "Turkmenbashi": 0.35,
        "Baku": 0.20,
        "Alat": 0.12,
        "Aktau": 0.08,
        "Makhachkala": 0.07,
        "Amirabad": 0.10,
        "Astrakhan": 0.04,
        "Anzali": 0.04,
    },
}
_CALLSIGN_PREFIX = {"RU": "U", "IR": "EP", "KZ": "UN", "AZ": "4J", "TM": "EZ"}
_NAME_WORDS = {
    "RU": [
        "VOLZHSKIY",
        "SARPINSKIY",
        "BAKHTEMIR",
        "ZARECHNYY",
        "STEPNOY",
        "LOTOS",
        "KAMYSH",
        "NIZOVYE",
        "SEVERNYY",
        "ISTOK",
        "ZVEZDA",
        "RASSVET",
        "PRIBOY",
        "LIMAN",
        "BEREG",
    ],
    "IR": [
        "GILAN",
        "NASIM",
        "PARSIAN",
        "SAHEL",
        "DARYA",
        "KHAZAR NUR",
        "SETAREH",
        "MAHTAB",
        "AFTAB",
        "PARVAZ",
        "BAHAR",
        "SABA",
        "ARYA",
        "ROUD",
        "NEGIN",
    ],
    "KZ": ["MANGYSTAU", "ZHAIYK", "KERUEN", "AKZHAIK", "TULPAR", "SAMAL", "DALA", "ARDAK"],
    "AZ": ["ABSHERON", "XAZAR", "GOYGOL", "SAHIL", "LANKARAN", "ULDUZ", "KUR", "SHIRVAN"],
    "TM": ["BALKAN", "AWAZA", "GARABOGAZ", "HAZAR", "ARKADAG", "BERKARAR", "MURGAP", "TEJEN"],
}


def imo_check_digit(first6: np.ndarray) -> np.ndarray:
    """Check digit of IMO numbers from their first six digits.

    The check digit is the last digit of the sum of the six digits weighted 7, 6, 5, 4, 3, 2.

    Parameters
    ----------
    first6 : numpy.ndarray of int
        Six-digit numbers (100000-999999).

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> imo_check_digit(np.array([907472])).tolist()    # IMO 9074729
    [9]
    """
    x = np.asarray(first6, dtype=np.int64)
    digits = np.stack([(x // 10 ** (5 - k)) % 10 for k in range(6)], axis=-1)
    return (digits * np.array([7, 6, 5, 4, 3, 2])).sum(axis=-1) % 10


def port_weights(flag: str, ports: pd.DataFrame) -> np.ndarray:
    """Destination weights of a flag's vessels over the gazetteer rows (sums to 1).

    Parameters
    ----------
    flag : str
        ISO 3166-1 alpha-2 code.
    ports : pandas.DataFrame
        Gazetteer.

    Returns
    -------
    numpy.ndarray of float
    """
    w = np.full(len(ports), 0.01)
    for name, v in _PORT_WEIGHTS.get(flag, {}).items():
        try:
            w[port_index(name, ports)] = v
        except KeyError:
            continue
    return w / w.sum()


def _stratified(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform draws stratified within each group, so that a share ``s`` of a group's
    vessels has ``u < s`` up to rounding (not just on average)."""
    u = np.zeros(len(groups))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        u[idx] = (rng.permutation(len(idx)) + rng.random(len(idx))) / len(idx)
    return u


def make_fleet(
    n_vessels: int,
    rng: np.random.Generator,
    ports: pd.DataFrame,
    *,
    flag_mix: Mapping[str, float] | None = None,
    class_b_share: float = 0.05,
    speed_kn: tuple[float, float] = (8.0, 12.0),
) -> pd.DataFrame:
    """Draw a fleet.

    Parameters
    ----------
    n_vessels : int
        Number of vessels.
    rng : numpy.random.Generator
        Random source.
    ports : pandas.DataFrame
        Gazetteer (used for home ports and ferry lines).
    flag_mix : mapping of str to float, optional
        Share of each flag (default :data:`DEFAULT_FLAG_MIX`).
    class_b_share : float, default 0.05
        Share of small general cargo vessels (30-60 m) fitted with Class B transponders.
    speed_kn : (float, float), default (8, 12)
        Range of service speeds, knots.

    Returns
    -------
    pandas.DataFrame
        One row per vessel: ``vessel_id, mmsi, imo, name, callsign, flag_state, ship_type,
        role, ais_class, length_m, width_m, max_draught_m, service_speed_kn, canal_capable,
        home_port, ferry_a, ferry_b, dark_u, sloppy_nav_status``. ``dark_u`` is the vessel's
        dark propensity (uniform 0-1; see :mod:`caspian_ais.synthetic.params`), ``imo``
        is missing for Class B vessels (their transponders do not send one).
    """
    mix = dict(DEFAULT_FLAG_MIX if flag_mix is None else flag_mix)
    flags = np.array(list(mix))
    probs = np.array([mix[f] for f in flags], dtype=float)
    probs /= probs.sum()
    flag = rng.choice(flags, size=n_vessels, p=probs)
    # MMSIs: MID + 6 random digits, unique
    mmsi = np.zeros(n_vessels, dtype=np.int64)
    used: set[int] = set()
    for i, f in enumerate(flag):
        while True:
            m = MID_OF_FLAG[f] * 1_000_000 + int(rng.integers(100_000, 999_999))
            if m not in used:
                used.add(m)
                mmsi[i] = m
                break
    # IMO numbers 1ddddd + check digit: a range no real ship number uses
    six = 100_000 + rng.choice(100_000, size=n_vessels, replace=False)
    imo = six * 10 + imo_check_digit(six)

    ship_type = np.zeros(n_vessels, dtype=np.int16)
    role = np.empty(n_vessels, dtype=object)
    for i, f in enumerate(flag):
        c, t, _ = _TYPE_MIX.get(f, (0.8, 0.2, 0.0))
        u = rng.random()
        ship_type[i] = (
            SHIP_TYPE_CARGO if u < c else SHIP_TYPE_TANKER if u < c + t else SHIP_TYPE_PASSENGER
        )
        role[i] = "ferry" if ship_type[i] == SHIP_TYPE_PASSENGER else "trader"
    ais_class = np.where(
        (ship_type == SHIP_TYPE_CARGO) & (rng.random(n_vessels) < class_b_share), "B", "A"
    )

    length = np.zeros(n_vessels)
    draught = np.zeros(n_vessels)
    river_sea = np.isin(flag, ["RU", "IR"]) | (rng.random(n_vessels) < 0.25)
    for i in range(n_vessels):
        if ais_class[i] == "B":
            length[i], draught[i] = rng.uniform(30, 60), rng.uniform(2.0, 3.0)
        elif ship_type[i] == SHIP_TYPE_PASSENGER:
            length[i], draught[i] = rng.uniform(130, 160), rng.uniform(4.0, 4.8)
        elif river_sea[i]:
            length[i], draught[i] = rng.uniform(90, 141), rng.uniform(3.2, CANAL_MAX_DRAUGHT_M)
        else:
            length[i], draught[i] = rng.uniform(100, 150), rng.uniform(4.8, 6.5)
    length = np.round(length)
    width = np.round(length / rng.uniform(6.5, 8.5, n_vessels))
    draught = np.round(draught, 1)
    speed = np.round(rng.uniform(speed_kn[0], speed_kn[1], n_vessels), 1)
    speed = np.where(ship_type == SHIP_TYPE_PASSENGER, np.maximum(speed, 10.0), speed)

    names = []
    seen: set[str] = set()
    for f in flag:
        words = _NAME_WORDS.get(str(f), _NAME_WORDS["RU"])
        while True:
            nm = f"{words[int(rng.integers(len(words)))]}-{int(rng.integers(1, 300))}"
            if nm not in seen:
                seen.add(nm)
                names.append(nm)
                break
    callsign = []
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    for f in flag:
        pre = _CALLSIGN_PREFIX.get(str(f), "X")
        body = "".join(rng.choice(letters, 5 - len(pre))) + str(int(rng.integers(0, 10)))
        callsign.append(pre + body)

    home = np.zeros(n_vessels, dtype=np.int64)
    ferry_a = np.full(n_vessels, -1, dtype=np.int64)
    ferry_b = np.full(n_vessels, -1, dtype=np.int64)
    canal_ok = draught <= CANAL_MAX_DRAUGHT_M
    lines = []
    for name_a, name_b in FERRY_LINES:
        try:
            lines.append((port_index(name_a, ports), port_index(name_b, ports)))
        except KeyError:
            continue
    canal_ports = ports["volga_canal"].to_numpy(dtype=bool)
    weights = {str(f): port_weights(str(f), ports) for f in np.unique(flag)}
    for i, f in enumerate(flag):
        if role[i] == "ferry" and lines:
            a, b = lines[int(rng.integers(len(lines)))]
            ferry_a[i], ferry_b[i] = a, b
            home[i] = a
        else:
            w = weights[str(f)]
            if not canal_ok[i]:
                w = np.where(canal_ports, 0.0, w)
            home[i] = int(rng.choice(len(ports), p=w / w.sum()))
    fleet = pd.DataFrame(
        {
            "vessel_id": np.arange(n_vessels, dtype=np.int64),
            "mmsi": mmsi,
            "imo": pd.array(np.where(ais_class == "A", imo, 0), dtype="Int64"),
            "name": names,
            "callsign": callsign,
            "flag_state": flag.astype(str),
            "ship_type": ship_type,
            "role": role.astype(str),
            "ais_class": ais_class,
            "length_m": length,
            "width_m": width,
            "max_draught_m": draught,
            "service_speed_kn": speed,
            "canal_capable": canal_ok,
            "home_port": home,
            "ferry_a": ferry_a,
            "ferry_b": ferry_b,
            "dark_u": _stratified(flag, rng),
            "sloppy_nav_status": rng.random(n_vessels) < 0.12,
        }
    )
    fleet.loc[fleet["ais_class"] == "B", "imo"] = pd.NA
    return fleet
