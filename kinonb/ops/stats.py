"""Per-dimension statistics of a file's low-dim columns, episode lengths and success rate (``kinonb stats``),
and their histograms drawn with matplotlib (``--plot``, extra ``plot``).

Two streaming passes over ``read_episode_actions_only`` (no camera byte is read): the first finds each
dimension's range, count, mean and std (Welford, merged per episode), the second fills ``bins`` histogram
buckets over that range, so memory is one episode plus the counts whatever the file's size.
"""

from __future__ import annotations

import numpy as np

from ..interop.opener import open as open_db

KEYS = ("actions", "states", "rewards")


def low_dim_stats(src, *, bins: int = 50, max_dims: int = 32) -> dict:
    """{"episodes", "lengths" (per episode), "success": {true, false, unknown}, "columns": {name: {"min", "max",
    "mean", "std", "count" (lists, one per dimension), "hist" ((bins,) counts per dimension), "edges"}}} for
    actions, states, rewards and the numeric extra columns (their first ``max_dims`` dimensions)."""
    db = open_db(src)
    n = len(db)
    acc: dict = {}
    lengths = np.zeros(n, np.int64)
    success = {"true": 0, "false": 0, "unknown": 0}
    for i in range(n):
        ep = db.read_episode_actions_only(i)
        lengths[i] = ep["meta"]["num_frames"]
        success[{True: "true", False: "false", None: "unknown"}[ep["meta"]["success"]]] += 1
        for name, arr in _columns(ep, max_dims):
            acc.setdefault(name, _Moments(arr.shape[1])).add(arr)
    columns = {name: m.summary() for name, m in acc.items()}
    for name in columns:
        lo, hi = np.array(columns[name]["min"]), np.array(columns[name]["max"])
        columns[name]["edges"] = [np.linspace(a, b if b > a else a + 1, bins + 1).tolist() for a, b in zip(lo, hi)]
        columns[name]["hist"] = np.zeros((len(lo), bins), np.int64)
    for i in range(n):
        for name, arr in _columns(db.read_episode_actions_only(i), max_dims):
            for d, edges in enumerate(columns[name]["edges"]):
                values = arr[:, d]
                columns[name]["hist"][d] += np.histogram(values[np.isfinite(values)], bins=edges)[0]
    for c in columns.values():
        c["hist"] = c["hist"].tolist()
    return {"path": str(src), "episodes": n, "lengths": lengths.tolist(), "success": success, "columns": columns}


def _columns(ep: dict, max_dims: int):
    """(name, (T, D) float64) of the episode's numeric low-dim arrays."""
    items = [(k, ep.get(k)) for k in KEYS] + list((ep.get("columns") or {}).items())
    for name, arr in items:
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf" or not len(arr):
            continue
        yield name, arr.reshape(len(arr), -1)[:, :max_dims].astype(np.float64)


class _Moments:
    """Per-dimension count, mean, M2, min and max of finite values, merged episode by episode (Chan et al.)."""

    def __init__(self, dims: int):
        self.n = np.zeros(dims)
        self.mean = np.zeros(dims)
        self.m2 = np.zeros(dims)
        self.lo = np.full(dims, np.inf)
        self.hi = np.full(dims, -np.inf)

    def add(self, arr: np.ndarray) -> None:
        if arr.shape[1] != len(self.n):  # widths may differ between episodes: keep the dims all share
            d = min(arr.shape[1], len(self.n))
            arr = arr[:, :d]
            for field in ("n", "mean", "m2", "lo", "hi"):
                setattr(self, field, getattr(self, field)[:d])
        finite = np.isfinite(arr)
        nb = finite.sum(axis=0)
        safe = np.where(finite, arr, 0.0)
        mb = np.divide(safe.sum(axis=0), nb, out=np.zeros(len(nb)), where=nb > 0)
        m2b = (np.where(finite, arr - mb, 0.0) ** 2).sum(axis=0)
        total = self.n + nb
        delta = mb - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = np.where(total > 0, self.mean + delta * nb / np.maximum(total, 1), 0.0)
            self.m2 = self.m2 + m2b + delta**2 * self.n * nb / np.maximum(total, 1)
        self.n = total
        self.lo = np.minimum(self.lo, np.where(finite, arr, np.inf).min(axis=0))
        self.hi = np.maximum(self.hi, np.where(finite, arr, -np.inf).max(axis=0))

    def summary(self) -> dict:
        std = np.sqrt(np.divide(self.m2, self.n, out=np.full(len(self.n), np.nan), where=self.n > 0))
        lo, hi = np.where(self.n > 0, self.lo, 0.0), np.where(self.n > 0, self.hi, 0.0)
        return {"min": lo.tolist(), "max": hi.tolist(), "mean": self.mean.tolist(), "std": std.tolist(),
                "count": self.n.astype(np.int64).tolist()}


def plot_stats(stats: dict, out) -> None:
    """Draw the histograms of ``stats`` (:func:`low_dim_stats`) into the image file ``out`` (PNG, SVG, PDF)."""
    from ..interop.ingest import require

    require("matplotlib", "plot", "kinonb stats --plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, d) for name, c in stats["columns"].items() for d in range(len(c["hist"]))]
    cols = 4
    rows = 1 + (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    head = axes[0]
    head[0].set_visible(True)
    head[0].hist(stats["lengths"], bins=min(50, max(1, len(set(stats["lengths"])))), color="tab:gray")
    head[0].set_title(f"episode length ({stats['episodes']} episodes)")
    s = stats["success"]
    head[1].set_visible(True)
    head[1].bar(list(s), list(s.values()), color=["tab:green", "tab:red", "tab:gray"])
    known = s["true"] + s["false"]
    head[1].set_title("success" + (f": {s['true'] / known:.1%} of {known}" if known else ": unknown"))
    for ax, (name, d) in zip(axes[1:].ravel(), panels):
        c = stats["columns"][name]
        ax.set_visible(True)
        edges = np.asarray(c["edges"][d])
        ax.stairs(c["hist"][d], edges, fill=True)
        label = name if len(c["hist"]) == 1 else f"{name}[{d}]"
        ax.set_title(f"{label}: mean {c['mean'][d]:.3g}, std {c['std'][d]:.3g}", fontsize=9)
    fig.suptitle(stats["path"], fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
