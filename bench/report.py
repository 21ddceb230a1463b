"""Outputs of a benchmark run: the JSON with every figure and the machine, a Markdown table, PNG plots."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

PLOTS = ("throughput.png", "data_share.png", "scaling.png")


def machine() -> dict:
    """CPU model, cores, RAM, OS and library versions."""
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {"python": sys.version.split()[0]}
    for mod in ("kinonb", "numpy", "numba", "torch", "h5py", "zarr", "numcodecs", "pyarrow", "matplotlib"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # absent or broken: say so rather than fail the report
            versions[mod] = None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return {"cpu_model": cpu or platform.processor() or None, "cores": os.cpu_count(), "usable_cores": affinity,
            "ram_bytes": ram, "ram_gib": round(ram / 2**30, 1) if ram else None, "gpu": gpu,
            "os": f"{platform.system()} {platform.release()}", "versions": versions}


def read_ahead_kb(path) -> int | None:
    """The read-ahead window of the block device holding ``path`` (what a page fault on a map reads around)."""
    try:
        st = os.stat(path)
        dev = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
        for q in (dev / "queue" / "read_ahead_kb", dev.resolve().parent / "queue" / "read_ahead_kb"):
            if q.exists():
                return int(q.read_text().strip())
    except (OSError, ValueError):
        pass
    return None


def print_and_save(text: str, figures: dict, json_path: str | None) -> None:
    """Print a bench's markdown; with ``--json PATH`` also write its figures there (``-``: to stdout)."""
    print(text)
    if json_path:
        out = json.dumps(figures, indent=2)
        print(out) if json_path == "-" else Path(json_path).write_text(out)


def write_json(results: dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=_jsonable))


def _jsonable(v):
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


# -- Markdown -------------------------------------------------------------------------------------------------
def _n(v, digits=0):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _x(v):
    return "n/a" if v is None else (f"{v:.1f}x" if v >= 0.995 else f"{v:.2f}x")


def _pct(v):
    return "n/a" if v is None else f"{v * 100:.0f}%" if v >= 0.01 else f"{v * 100:.2f}%"


def markdown(results: dict) -> str:
    m = results["machine"]
    cfg = results["config"]
    lines = [
        "# kinonb end-to-end benchmark",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".",
        f"Mode: {'quick' if cfg['quick'] else 'default'}; batch {cfg['batch']}; {cfg['runs']} timed runs per "
        f"figure (median, [min-max]) after one warm-up batch; seed {cfg['seed']}; wall time "
        f"{results.get('wall_s', 0):.0f} s; other processes' share of the CPU during the run: "
        f"{_pct(m.get('other_processes_cpu_share'))}.",
        "",
        "Every loader reads the same samples in the same order (a sample: states t-1..t, actions t..t+15, "
        "and with images frames t-1..t of one camera; edge frames repeated at episode ends). "
        "**kinonb x** = kinonb's samples/s over the loader's (above 1: kinonb is faster); **of ceiling** = the "
        "loader's samples/s over the faster in-RAM ceiling's. Cold = every file evicted from the page cache "
        "before each run.",
    ]
    summary = _summary(results)
    if summary:
        lines += ["", "## Summary", ""] + [f"- {x}" for x in summary]
    for ds in results.get("datasets", {}).values():
        d = ds["source"]
        lines += ["", f"## {d['name']}: {d['episodes']:,} episodes, {d['frames']:,} frames "
                  f"({d['kind']}); action {d['action_dim']}-d, state {d['state_dim']}-d"
                  + (f", images {'x'.join(map(str, d['image_shape']))}" if d.get("image_shape") else ""), ""]
        lines += ["| format | MB on disk | files | write s |", "|---|---:|---:|---:|"]
        for fmt, f in ds["files"].items():
            lines.append(f"| {fmt} | {f['bytes'] / 1e6:,.1f} | {f['files']:,} | {f['write_s']:.1f} |")
        for mode, tp in ds["throughput"].items():
            lines += ["", f"### Throughput, {mode}", "",
                      f"Cold runs read {tp['samples_per_run']:,} samples; warm runs at least as many, more for "
                      f"loaders fast enough (up to {tp.get('max_samples_per_run', tp['samples_per_run']):,}), "
                      "always from the start of the same sample sequence.", "",
                      "| loader | warm samples/s | kinonb x | of ceiling | samples per warm run | cold samples/s | "
                      "kinonb x (cold) | first batch ms |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for name, r in tp["loaders"].items():
                w, c = r["warm"], r.get("cold")
                cold = (f"{_n(c['median'])} [{_n(c['min'])}-{_n(c['max'])}]" if c else "n/a (in RAM)")
                lines.append(f"| {name} | {_n(w['median'])} [{_n(w['min'])}-{_n(w['max'])}] | {_x(w['kinonb_x'])} | "
                             f"{_pct(w['of_ceiling'])} | {w.get('samples_per_run', tp['samples_per_run']):,} | {cold} | "
                             f"{_x(c['kinonb_x']) if c else 'n/a'} | "
                             f"{r['first_batch_s'] * 1e3:,.0f} |")
        for label, bc in ds.get("bc", {}).items():
            lines += ["", f"### BC loop ({label}): MLP, {bc['steps']} steps of batch {bc['batch']}, "
                      f"{bc['device']}, {bc['workers']} DataLoader workers; loss curves identical across loaders: "
                      f"**{'yes' if bc['loss_curves_identical'] else 'NO'}**", "",
                      "| loader | total s | data s | compute s | data share | samples/s | time vs kinonb |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for name, r in bc["loaders"].items():
                lines.append(f"| {name} | {r['total_s']:.2f} | {r['data_s']:.2f} | {r['compute_s']:.2f} | "
                             f"{_pct(r['data_share'])} | {_n(r['samples_per_s'])} | {_x(r['kinonb_x'])} |")
    jit = results.get("jit") or {}
    runs = {k: v for k, v in jit.items() if isinstance(v, dict)}
    if runs:
        lines += ["", f"## JIT warm-up (excluded from every figure above; fresh process, {jit.get('file')})", "",
                  "| Numba cache | import kinonb ms | first sample_index ms | first batch ms | second batch ms |",
                  "|---|---:|---:|---:|---:|"]
        for label, r in runs.items():
            lines.append(f"| {label} | {r['import_s'] * 1e3:.0f} | {r['first_sample_index_s'] * 1e3:.0f} | "
                         f"{r['first_batch_s'] * 1e3:.0f} | {r['second_batch_s'] * 1e3:.1f} |")
    elif jit.get("error"):
        lines += ["", f"JIT warm-up not measured: {jit['error']}"]
    if results.get("gpu"):
        g = results["gpu"]
        lines += ["", "## GPU row", "", g["note"] if "note" in g else ""]
    sc = results.get("scaling")
    if sc:
        sizes = sorted((k for k in sc if k.isdigit()), key=int)
        names = list(sc[sizes[0]]["queries"]) if sizes else []
        lines += ["", "## Scaling: open and KQL vs episodes (episodes of 2-8 frames)", "",
                  "| episodes | MB | write s | open warm ms | open cold ms | first query ms (builds table) | "
                  + " | ".join(f"KQL {q} ms" for q in names) + " |",
                  "|---:|---:|---:|---:|---:|---:|" + "---:|" * len(names)]
        for k in sizes:
            r = sc[k]
            lines.append(f"| {int(k):,} | {r['file_mb']:,.1f} | {r['write_s']:.1f} | {r['open_warm']['median_ms']:.3f} | "
                         f"{r['open_cold']['median_ms']:.3f} | {r['first_query']['median_ms']:.2f} | "
                         + " | ".join(f"{r['queries'][q]['median_ms']:.2f}" for q in names) + " |")
        if names:
            lines += ["", "KQL queries: " + "; ".join(f"{q}: `{sc[sizes[0]]['queries'][q]['text']}`" for q in names)
                      + ". Times are `db.query_positions` (int64 array) once the metadata table exists."]
    notes = (results.get("notes") or []) + derived_notes(results)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def derived_notes(results: dict) -> list[str]:
    """Facts a reader needs to judge the figures, derived from them (recomputed whenever the report is written)."""
    from .loaders import IN_RAM

    notes = []
    v = results["machine"]["versions"]
    notes.append(f"zarr is read with zarr {v.get('zarr')} (format-2 stores, as diffusion_policy writes); "
                 "diffusion_policy pins zarr 2.x, whose per-read overhead is lower than zarr 3's. diffusion_policy's "
                 "own Push-T datasets copy the whole replay buffer into RAM (`ReplayBuffer.copy_from_path`), i.e. "
                 "they run at the in-RAM ceiling after a long load; here zarr is read from disk per sample.")
    notes.append("Every format stores the images as uint8 (Push-T's source holds float32 0..255) and every loader "
                 "returns raw uint8 HWC frames: no PNG/JPEG/video decode, no resize, so the figures compare storage "
                 "and access patterns only.")
    notes.append("robomimic's SequenceDataset reads seq_length + frame_stack - 1 frames of every observation key; "
                 "the h5py loader reads only the frames it returns, which favours HDF5.")
    notes.append("The 'write s' figures are by-products, not benchmarks: one run each, while the scaling files are "
                 "written by a background process.")
    notes.append("Warm runs read samples not read before in the process: for kinonb (a memory map) that includes "
                 "the first-touch page faults that map page-cache pages into the process, paid once per page per "
                 "process; later epochs skip them.")
    ra = results["machine"].get("workdir_read_ahead_kb")
    cold_loss = False
    for ds in results.get("datasets", {}).values():
        for mode, tp in ds["throughput"].items():
            for regime in ("warm", "cold"):
                faster = [f"{name} ({1 / r[regime]['kinonb_x']:.1f}x)" for name, r in tp["loaders"].items()
                          if name not in IN_RAM and not name.startswith("kinonb") and regime in r
                          and r[regime].get("kinonb_x") and r[regime]["kinonb_x"] < 0.9]
                if faster:
                    cold_loss |= regime == "cold"
                    notes.append(f"Where kinonb loses: {ds['source']['name']}, {mode}, {regime}: "
                                 + ", ".join(faster) + " faster than kinonb.")
            res = [r.get("cold", {}).get("resident_before_run") for r in tp["loaders"].values()]
            res = [r for r in res if r is not None]
            if res and max(res) > 0.05:
                notes.append(f"{ds['source']['name']} {mode}: up to {max(res) * 100:.0f}% of a loader's pages were "
                             f"still resident after eviction (mincore); its cold figure is optimistic.")
    if cold_loss:
        notes.append("Why kinonb loses cold: it reads through a memory map, and the kernel reads around every page "
                     f"fault on a map (read_ahead_kb = {ra} on this disk), so each random sample pulls up to that "
                     "much from disk, mostly other columns' bytes (Push-T's low-dim blocks sit between image "
                     "blocks); h5py and pyarrow pread the bytes they need. The 'kinonb +MADV_RANDOM' row (not "
                     "kinonb's default) shows what a random-access hint on the map changes; it also disables "
                     "fault-around, which costs in the warm regime.")
    return notes


PEERS = ("h5py (robomimic)", "zarr (diffusion_policy)", "parquet (LeRobot)", "kinodb-API")


def _summary(results: dict) -> list[str]:
    """One line per table: kinonb's speed-up over each peer, and its share of the in-RAM ceiling."""
    out = []
    for ds in results.get("datasets", {}).values():
        name = ds["source"]["name"]
        for mode, tp in ds["throughput"].items():
            lo = tp["loaders"]
            if "kinonb" not in lo:
                continue
            for regime in ("warm", "cold"):
                parts = [f"{_x(lo[p][regime]['kinonb_x'])} {p.split(' ')[0]}" for p in PEERS
                         if p in lo and regime in lo[p]]
                if not parts or regime not in lo["kinonb"]:
                    continue
                tail = (f"; kinonb at {_pct(lo['kinonb']['warm']['of_ceiling'])} of the in-RAM ceiling"
                        if regime == "warm" else "")
                out.append(f"{name}, {mode}, {regime}: kinonb {_n(lo['kinonb'][regime]['median'])} samples/s = "
                           + ", ".join(parts) + tail + ".")
        for label, bc in ds.get("bc", {}).items():
            lo = bc["loaders"]
            parts = [f"{k.split(' ')[0]} {_pct(lo[k]['data_share'])} ({_x(lo[k]['kinonb_x'])} kinonb's time)"
                     for k in PEERS if k in lo]
            if "kinonb" in lo:
                out.append(f"{name}, BC loop ({label}): data share kinonb {_pct(lo['kinonb']['data_share'])}, "
                           + ", ".join(parts) + "; loss curves identical: "
                           + ("yes" if bc["loss_curves_identical"] else "NO") + ".")
    sc = results.get("scaling") or {}
    sizes = sorted((k for k in sc if k.isdigit()), key=int)
    if len(sizes) > 1:
        a, b = sc[sizes[0]], sc[sizes[-1]]
        q = next(iter(b["queries"]))
        out.append(f"Scaling: open {a['open_warm']['median_ms']:.2f} ms at {int(sizes[0]):,} episodes, "
                   f"{b['open_warm']['median_ms']:.2f} ms at {int(sizes[-1]):,}; KQL ({q}) "
                   f"{b['queries'][q]['median_ms']:.2f} ms at {int(sizes[-1]):,} after a first query of "
                   f"{b['first_query']['median_ms']:.0f} ms that builds the metadata table.")
    return out


# -- plots ------------------------------------------------------------------------------------------------------
def plots(results: dict, outdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    panels = [(ds["source"]["name"], mode, tp) for ds in results.get("datasets", {}).values()
              for mode, tp in ds["throughput"].items()]
    fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(9, 2.2 + 0.55 * max(
        (len(tp["loaders"]) for _, _, tp in panels), default=4) * max(len(panels), 1)), squeeze=False)
    for ax, (name, mode, tp) in zip(axes[:, 0], panels):
        loaders = list(tp["loaders"])[::-1]
        y = range(len(loaders))
        warm_v = [tp["loaders"][k]["warm"]["median"] for k in loaders]
        cold_v = [tp["loaders"][k]["cold"]["median"] if "cold" in tp["loaders"][k] else 0 for k in loaders]
        ax.barh([i + 0.2 for i in y], warm_v, 0.4, label="warm page cache", color="#3b7dd8")
        ax.barh([i - 0.2 for i in y], cold_v, 0.4, label="cold (evicted)", color="#e08a2c")
        ax.set_yticks(list(y), loaders, fontsize=8)
        ax.set_xscale("log")
        ax.set_title(f"{name}, {mode}: samples/s (log scale, median of {tp['runs']} runs)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    written.append(_save(fig, outdir / "throughput.png", plt))

    bcs = [(ds["source"]["name"], label, bc) for ds in results.get("datasets", {}).values()
           for label, bc in ds.get("bc", {}).items()]
    fig, axes = plt.subplots(len(bcs) or 1, 1, figsize=(9, 1.8 + 0.45 * max(
        (len(bc["loaders"]) for _, _, bc in bcs), default=4) * max(len(bcs), 1)), squeeze=False)
    for ax, (name, label, bc) in zip(axes[:, 0], bcs):
        loaders = list(bc["loaders"])[::-1]
        share = [bc["loaders"][k]["data_share"] * 100 for k in loaders]
        ax.barh(loaders, share, color="#d8553b", label="data (waiting for the batch, to tensor)")
        ax.barh(loaders, [100 - v for v in share], left=share, color="#5b9e5b", label="compute (fwd, bwd, step)")
        for i, k in enumerate(loaders):
            r = bc["loaders"][k]
            ax.text(101, i, f"{r['data_share'] * 100:.0f}% of {r['total_s']:.2f} s", va="center", fontsize=7)
        ax.set_xlim(0, 125)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("% of the step time", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(f"BC loop, {name} ({label}): data share of {bc['steps']} steps of batch {bc['batch']} "
                     f"(total seconds at right)", fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.tight_layout()
    written.append(_save(fig, outdir / "data_share.png", plt))

    sc = results.get("scaling") or {}
    sizes = sorted((k for k in sc if k.isdigit()), key=int)
    fig, ax = plt.subplots(1, 1, figsize=(7, 4))
    if sizes:
        xs = [int(k) for k in sizes]
        ax.plot(xs, [sc[k]["open_warm"]["median_ms"] for k in sizes], "o-", label="open (warm)")
        ax.plot(xs, [sc[k]["open_cold"]["median_ms"] for k in sizes], "o--", label="open (cold)")
        ax.plot(xs, [sc[k]["first_query"]["median_ms"] for k in sizes], "s-", label="first query (builds table)")
        for q in sc[sizes[0]]["queries"]:
            ax.plot(xs, [sc[k]["queries"][q]["median_ms"] for k in sizes], "^-", label=f"KQL {q}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("episodes in the file")
        ax.set_ylabel("ms (median)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    ax.set_title("kinonb: open and KQL time vs episodes", fontsize=9)
    fig.tight_layout()
    written.append(_save(fig, outdir / "scaling.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(results: dict, out: Path, publish: Path | None = None, log=print) -> str:
    """Write results.json, results.md and the plots under ``out``; with ``publish``, copy the table and the
    plots there too. Returns the Markdown."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(results, out / "results.json")
    md = markdown(results)
    (out / "results.md").write_text(md)
    pngs = plots(results, out)
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}, " + ", ".join(p.name for p in pngs))
    if publish is not None:
        publish = Path(publish)
        publish.mkdir(parents=True, exist_ok=True)
        shutil.copy2(out / "results.md", publish / "results.md")
        for p in pngs:
            shutil.copy2(p, publish / p.name)
        log(f"published results.md and the plots to {publish}")
    return md


def main(argv=None) -> int:
    """Re-render the table and the plots from a results.json (e.g. after changing the report's layout)."""
    ap = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    ap.add_argument("json", type=Path, help="a results.json written by bench.run")
    ap.add_argument("--out", type=Path, help="output folder (default: the JSON's folder)")
    ap.add_argument("--publish", action="store_true", help="also copy results.md and the PNGs to docs/bench/")
    args = ap.parse_args(argv)
    results = json.loads(args.json.read_text())
    root = Path(__file__).resolve().parents[1]
    render(results, args.out or args.json.parent, publish=root / "docs" / "bench" if args.publish else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
