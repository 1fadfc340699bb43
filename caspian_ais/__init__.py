"""caspian_ais: offline analysis of AIS vessel-tracking data.

Load AIS from the formats people have, clean it with a ledger of every dropped row,
detect transmission gaps and probable dark port calls, and report them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
