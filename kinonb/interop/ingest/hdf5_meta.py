"""HDF5 demonstration files' metadata: task, embodiment and fps from the data group's attributes, mask filters,
and each demo's attrs (see :mod:`kinonb.interop.ingest.hdf5` for the mapping)."""

from __future__ import annotations

import json
import re

import numpy as np

from . import Report, first_meta

ROBOSUITE_0_ROBOT = re.compile(r"(Sawyer|Baxter)(?=[A-Z])")
LARGE_ATTR = 16 * 1024


def masks_of(f) -> dict:
    out = {}
    if "mask" in f:
        for k in f["mask"]:
            out[k] = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(f["mask"][k]).reshape(-1)]
    return out


def _attr_value(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return _attr_value(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None  # attrs are JSON: no NaN / Inf
    if isinstance(v, (list, tuple)):
        return [_attr_value(x) for x in v]
    return v


def _attrs(items, label, keep_large, report) -> dict:
    out = {}
    for k, v in items.items():
        value = _attr_value(v)
        if isinstance(value, str) and len(value.encode()) > LARGE_ATTR and not keep_large:
            report.skip(f"attribute {label}.attrs[{k!r}]", f"a string of over {LARGE_ATTR // 1024} KiB "
                        "(keep_large_attrs / --keep-large-attrs keeps it)")
            continue
        out[k] = value
    return out


def _json_attr(data, key):
    raw = data.attrs.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(_attr_value(raw))
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def source_meta(data, report: Report) -> dict:
    """Task, embodiment and fps from the data group's attributes (robomimic / LIBERO env_args, LIBERO problem_info
    and env_name, robosuite env / env_info; robosuite 0.x's robot from its env name), with ``meta_from`` (where
    each came from, or was looked for); the data group's attributes themselves go into every episode's attrs."""
    env_args, env_info, problem = (_json_attr(data, k) or {} for k in ("env_args", "env_info", "problem_info"))
    kwargs = env_args.get("env_kwargs") or {}
    attr = {k: _attr_value(data.attrs.get(k)) for k in ("env_name", "env")}
    candidates = {
        "task": [(problem.get("language_instruction"), "problem_info.language_instruction"),
                 (env_args.get("env_name"), "env_args.env_name"), (env_info.get("env_name"), "env_info.env_name"),
                 (attr["env_name"], "env_name"), (attr["env"], "env")],
        "embodiment": [(kwargs.get("robots"), "env_args.env_kwargs.robots"), (env_info.get("robots"), "env_info.robots")],
        "fps": [(kwargs.get("control_freq"), "env_args.env_kwargs.control_freq"),
                (env_info.get("control_freq"), "env_info.control_freq")],
    }
    meta, meta_from = {}, {}
    for field, options in candidates.items():
        meta[field], where = first_meta(field, options, report)
        meta_from[field] = f"data.attrs {where}"
    robot = ROBOSUITE_0_ROBOT.match(meta["task"]) if meta_from["task"] == "data.attrs env" else None
    if not meta["embodiment"] and robot:  # robosuite 0.x env classes are named <Robot><Task>: SawyerLift
        meta["embodiment"] = robot.group(1)
        meta_from["embodiment"] = f"data.attrs env {meta['task']!r} (a robosuite 0.x env name begins with its robot)"
    return dict(meta, meta_from=meta_from, data_attrs=dict(data.attrs.items()))


def episode_attrs(demo, name, masks, data_attrs, keep_large_attrs, report: Report) -> dict:
    """attrs: the demo's name, the mask filters listing it, its attributes and the data group's (data_attrs)."""
    attrs = {"demo": name}
    groups = [m for m, demos in masks.items() if name in demos]
    if groups:
        attrs["mask"] = groups
    attrs.update(_attrs(demo.attrs, "data/demo_*", keep_large_attrs, report))
    data_attrs = _attrs(data_attrs, "data", keep_large_attrs, report)
    if data_attrs:
        attrs["data_attrs"] = data_attrs
    return attrs
