"""kinonb.ray: ``.knb`` files as a Ray Data dataset (extra ``ray``; see docs/ray.md).

>>> ds = kinonb.ray.read_knb("data/", windows={"actions": range(16), "states": [0]})
>>> for batch in ds.iter_torch_batches(batch_size=256): ...

Importing this package does not import ray; :func:`read_knb` does, and says which extra to install when it is
missing.
"""

from __future__ import annotations

from ..errors import ArgumentTypeError, EmptyDatasetError, InvalidArgumentError, MissingExtraError

#: ``read_knb`` keywords that go to ``db.sample_index`` and to ``SampleIndex.read``.
SAMPLE_OPTIONS = ("pad", "pad_before", "pad_after", "pad_dims", "missing", "rate", "max_staleness")
READ_OPTIONS = ("image_size", "layout", "normalize", "mode")
#: ``read_knb`` keywords that go to ``ray.data.read_datasource``.
RAY_OPTIONS = ("override_num_blocks", "concurrency", "num_cpus", "num_gpus", "memory", "ray_remote_args")
INSTALL_HINT = "pip install 'kinonb[ray]'"


def read_knb(paths, windows: dict | None = None, *, columns=None, kql_filter: str | None = None,
             storage_options: dict | None = None, open_options: dict | None = None, block_rows: int | None = None,
             **options):
    """A :class:`ray.data.Dataset` of ``.knb`` rows.

    ``paths``: a file path or URL, a list of them, or a sharded dataset folder (its ``kinonb-dataset.json``, or
    its ``*.knb`` files in name order). ``windows=None``: one row per episode (its low-dim columns whole, as
    tensors, plus episode, episode_id, task, embodiment, success, num_frames, fps, total_reward; cameras only
    when named in ``columns``). ``windows={key: offsets}``: one row per sample of ``db.sample_index(windows,
    ...)``, the columns of its ``read`` (``{key}``, ``{key}_is_pad``, ``episode``, ``frame``). ``episode`` is
    the dataset position (files one after the other). ``columns``: the data columns (episode rows) or window
    keys read, nothing else is touched. ``kql_filter``: the episodes of ``db.query_positions(kql)`` in each
    file. ``storage_options`` / ``open_options`` go to ``kinonb.open``; ``block_rows``: rows per block (one
    batched read each; default up to 4096, about 128 MiB at most).

    Other keywords: ``pad``, ``pad_before``, ``pad_after``, ``pad_dims``, ``missing``, ``rate``,
    ``max_staleness`` (the sample index), ``image_size``, ``layout``, ``normalize``, ``mode`` (camera
    reads), and ``override_num_blocks`` (default: two read tasks per CPU, at most one per episode),
    ``concurrency``, ``num_cpus``, ``num_gpus``, ``memory``, ``ray_remote_args`` (``ray.data.read_datasource``).
    """
    ray = _ray()
    ray_options = {k: options.pop(k) for k in RAY_OPTIONS if k in options}
    source = knb_datasource(paths, windows, columns=columns, kql_filter=kql_filter, storage_options=storage_options,
                            open_options=open_options, block_rows=block_rows, **options)
    if ray_options.get("override_num_blocks") is None:
        cpus = int(ray.cluster_resources().get("CPU", 1)) if ray.is_initialized() else _cpus()
        ray_options["override_num_blocks"] = source.default_num_blocks(cpus)
    return ray.data.read_datasource(source, **ray_options)


def knb_datasource(paths, windows: dict | None = None, *, columns=None, kql_filter: str | None = None,
                   storage_options: dict | None = None, open_options: dict | None = None,
                   block_rows: int | None = None, **options):
    """The :class:`kinonb.ray.datasource.KnbDatasource` that :func:`read_knb` reads (same arguments, less
    Ray's): its plan is made here, so ``estimate_inmemory_data_size()`` and ``get_read_tasks(n)`` answer
    without Ray running."""
    _ray()
    from .datasource import KnbDatasource
    from .plan import ReadConfig, build_plan, episode_columns, window_keys
    from .sources import resolve

    unknown = sorted(set(options) - set(SAMPLE_OPTIONS + READ_OPTIONS))
    if unknown:
        raise InvalidArgumentError(f"read_knb: unknown keyword {unknown[0]!r}; it takes {SAMPLE_OPTIONS}, "
                                   f"{READ_OPTIONS} and {RAY_OPTIONS}")
    columns = _names(columns)
    if block_rows is not None and (isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows < 1):
        raise InvalidArgumentError(f"block_rows must be an int >= 1, got {block_rows!r}")
    sources = resolve(paths, storage_options=storage_options, open_options=open_options)
    if windows is None:
        first = sources[0].open()
        try:
            wins, data = None, episode_columns(first, columns)
        finally:
            getattr(first, "close", lambda: None)()
    else:
        wins = window_keys(windows, columns)
        data = tuple(wins)
    config = ReadConfig(wins, data, {k: options[k] for k in SAMPLE_OPTIONS if k in options},
                        {k: options[k] for k in READ_OPTIONS if k in options}, block_rows)
    plan = build_plan(sources, config, kql_filter)
    if not len(plan.unit_position):
        raise EmptyDatasetError(f"read_knb: no row to read in {len(sources)} file(s)"
                                f"{f' with kql_filter {kql_filter!r}' if kql_filter else ''}")
    return KnbDatasource(plan)


def _ray():
    try:
        import ray.data
    except ImportError as e:
        raise MissingExtraError(f"kinonb.ray.read_knb needs Ray Data: {INSTALL_HINT} (or pip install "
                                f"'ray[data]')") from e
    return ray


def _names(columns):
    if columns is None:
        return None
    if isinstance(columns, str):
        return (columns,)
    try:
        names = tuple(columns)
    except TypeError:
        raise ArgumentTypeError(f"columns must be a list of names, got {type(columns).__name__}") from None
    if not names or not all(isinstance(c, str) for c in names):
        raise InvalidArgumentError(f"columns must be a non-empty list of column names, got {columns!r}")
    return names


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


__all__ = ["read_knb", "knb_datasource"]
