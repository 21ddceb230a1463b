"""``KnbDatasource``: a :class:`ray.data.Datasource` over the plan of a read (imported only with ray).

Like Ray's ``read_lerobot``, which makes one read task per group of episodes sharing a file, each task here is
a contiguous run of episodes in the order of their bytes (:mod:`kinonb.ray.locality`); its
:class:`BlockMetadata` gives the exact rows and in-memory bytes that it will produce.
"""

from __future__ import annotations

import functools
import math

from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from .plan import TARGET_BLOCK_BYTES, Plan
from .tasks import read_task


class KnbDatasource(Datasource):
    """Rows of one or more ``.knb`` files, window samples or whole episodes (see :func:`kinonb.ray.read_knb`)."""

    def __init__(self, plan: Plan):
        super().__init__()
        self._plan = plan

    def get_name(self) -> str:
        return "ReadKnb"

    def estimate_inmemory_data_size(self) -> int:
        """The bytes of every row in memory (numpy nbytes), from the plan: rows x bytes per row."""
        return self._plan.nbytes

    def default_num_blocks(self, cpus: int) -> int:
        """Read tasks when none is asked for: two per CPU, more where blocks would pass Ray's target size,
        never more than the episodes."""
        units = len(self._plan.unit_position)
        return max(1, min(units, max(2 * cpus, math.ceil(self._plan.nbytes / TARGET_BLOCK_BYTES))))

    def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None) -> list[ReadTask]:
        tasks = []
        for spec in self._plan.tasks(parallelism):
            meta = BlockMetadata(num_rows=spec.rows, size_bytes=spec.nbytes, exec_stats=None,
                                 input_files=spec.files)
            tasks.append(ReadTask(functools.partial(read_task, spec), meta, per_task_row_limit=per_task_row_limit))
        return tasks
