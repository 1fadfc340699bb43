"""A seeded simulator of Caspian AIS traffic with ground truth.

Real Caspian AIS is commercial and unavailable offline; this simulator produces realistic
traffic whose truth lets every detector of the library be measured. See
``docs/simulator.md`` for the model, its parameters and sources, and what it leaves out.

Public API
----------
:func:`simulate`
    A small scenario in memory: ``.tracks`` (canonical table) and ``.truth`` (tables).
:func:`write_scenario`
    A scenario of any size streamed to disk in any format :func:`caspian_ais.io.read_ais`
    reads, with ``truth_*.csv`` tables.
:class:`SimulationParams`
    Every knob, with documented defaults.

Examples
--------
>>> from caspian_ais.synthetic import simulate
>>> sc = simulate(n_vessels=5, days=3, start="2022-09-01", seed=2, thin_s=600)
>>> set(sc.truth["events"]["kind"]) >= {"port_call"}
True
"""

from __future__ import annotations

from caspian_ais.synthetic.params import DEFAULT_DARK_SHARE, SimulationParams, dark_share
from caspian_ais.synthetic.scenario import FORMATS, TRUTH_TABLES, Scenario, simulate, write_scenario

__all__ = [
    "DEFAULT_DARK_SHARE",
    "FORMATS",
    "TRUTH_TABLES",
    "Scenario",
    "SimulationParams",
    "dark_share",
    "simulate",
    "write_scenario",
]
