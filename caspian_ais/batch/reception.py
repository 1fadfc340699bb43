"""The reception model from partitioned tracks: the names the batch engine uses.

The model is built from per-partition partial aggregates that merge exactly
(:mod:`caspian_ais.reception`, "How the model is built"); this module only gives those
steps the names :mod:`caspian_ais.batch.run` calls them by:

1. :func:`interval_counts` per partition (in the clean stage), :func:`interval_plan`,
   :func:`interval_sample` per partition, :func:`merge_interval`: the run-wide reporting
   interval, when not given;
2. :func:`quality_part` per partition, :func:`merge_quality`: the cell-month table;
3. :func:`occupancy_part` per partition, :func:`merge_model`: the occupancy grids, the
   satellite passes and the :class:`~caspian_ais.reception.ReceptionModel`.

The result equals ``build_reception_model(all_tracks)`` exactly (``tests/test_batch.py``).
"""

from __future__ import annotations

from caspian_ais.reception import ReceptionOptions as BuildOptions
from caspian_ais.reception import interval_partial as interval_counts
from caspian_ais.reception import (
    interval_plan,
    interval_sample,
    merge_interval,
    merge_quality,
)
from caspian_ais.reception import model_from_partials as merge_model
from caspian_ais.reception import occupancy_partial as occupancy_part
from caspian_ais.reception import quality_partial as quality_part
from caspian_ais.reception import reception_options as build_options

__all__ = ["BuildOptions", "build_options", "interval_counts", "interval_plan",
           "interval_sample", "merge_interval", "quality_part", "merge_quality",
           "occupancy_part", "merge_model"]
