"""The table of ``bench_regimes``: issue 18's rows, each from the figures of one run, with its goal and verdict."""

from __future__ import annotations

PREAMBLE = """# Every regime against the real peer, one run

Issue 18's table re-measured by `python -m bench.bench_regimes` (each section in a fresh process, one after the
other, on this 2-core VM). "ratio" is kinonb over the peer (above 1: kinonb is ahead) unless the row says
otherwise; "goal" is the issue's target. The sections and their data are described in `bench/bench_regimes.py`
and in the bench each section calls (`docs/bench/peers.md`, `cold.md`, `loader.md`, `kdb_reads.md`,
`kdb_query.md`, `writes.md`).

"""


def _rate(peers: dict, loader: str, workers: int, regime: str) -> float | None:
    for row in peers["rows"]:
        if row["loader"] == loader and row["workers"] == workers and row["regime"] == regime:
            return row["samples_per_s"]
    return None


def _row(rows: list, regime: str, peer: str, peer_fig, ours: str, ours_fig, ratio: float | None, goal: float,
         unit: str = "/s") -> None:
    def fmt(v):
        if v is None:
            return "n/a"
        return (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}") + unit

    met = "n/a" if ratio is None else ("yes" if ratio >= goal else "**no**")
    rows.append((regime, f"{peer}: {fmt(peer_fig)}", f"{ours}: {fmt(ours_fig)}",
                 "n/a" if ratio is None else f"{ratio:,.2f}x", f">= {goal:g}x", met))


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _peer_rows(rows: list, p: dict, data: str) -> None:
    loader = _rate(p, "kinonb Loader (threads)", 0, "warm")
    dl2 = _rate(p, "kinonb KinoDataset", 2, "warm")
    for w in (0, 2):
        peer = _rate(p, "LeRobot LeRobotDataset", w, "warm")
        _row(rows, f"LeRobot 0.6.1, warm, workers {w}, {data}", "LeRobotDataset", peer, "kinonb Loader", loader,
             _ratio(loader, peer), 1)
    for mode in ("'all'", "None"):
        peer = _rate(p, f"robomimic cache {mode}", 2, "warm")
        _row(rows, f"robomimic 0.3.0 cache {mode}, workers 2, {data}", "SequenceDataset", peer,
             "kinonb DataLoader workers 2", dl2, _ratio(dl2, peer), 1)
        _row(rows, f"robomimic 0.3.0 cache {mode}, workers 2, {data}", "SequenceDataset", peer, "kinonb Loader",
             loader, _ratio(loader, peer), 1)
    peer = _rate(p, "kinodb read_episode_actions_only per sample", 2, "warm")
    _row(rows, f"kinodb reader (window cut per sample), workers 2, {data}", "kinodb", peer,
         "kinonb DataLoader workers 2", dl2, _ratio(dl2, peer), 1)
    cold, peer = _rate(p, "kinonb Loader (threads)", 0, "cold"), _rate(p, "robomimic cache 'all'", 0, "cold")
    _row(rows, f"cold first epoch, {data}", "robomimic 'all' (build included)", peer, "kinonb Loader", cold,
         _ratio(cold, peer), 1)


def _worker_rows(rows: list, p: dict, loader: dict) -> None:
    w0, w2 = _rate(p, "kinonb KinoDataset", 0, "warm"), _rate(p, "kinonb KinoDataset", 2, "warm")
    _row(rows, "kinonb window batches, DataLoader workers 2 vs workers 0", "workers 0", w0, "workers 2", w2,
         _ratio(w2, w0), 0.8)
    for regime in ("quiet", "busy"):
        f = loader[regime]
        one, two = f["Loader threads=1"], f["Loader threads=2"]
        _row(rows, f"Loader 2 threads vs 1 thread, {regime} machine", "1 thread", one, "2 threads", two,
             _ratio(two, one), 1.8)
        dl0, dl2 = f["DataLoader workers=0"], f["DataLoader workers=2"]
        _row(rows, f"Loader vs DataLoader workers 2, {regime} machine", "DataLoader workers 2", dl2,
             "Loader threads 2", two, _ratio(two, dl2), 1)
        _row(rows, f"DataLoader workers 2 vs workers 0, {regime} machine", "workers 0", dl0, "workers 2", dl2,
             _ratio(dl2, dl0), 0.8)


def _episode_rows(rows: list, e: dict) -> None:
    rate = {(r["loader"], r["workers"]): r["episodes_per_s"] for r in e["rows"]}
    for w in (0, 2):
        peer = rate.get(("kinodb.torch.KinoDataset on .kdb", w))
        for name, label in (("kinonb.torch.KinoDataset on the same .kdb", "kinonb on the .kdb"),
                            ("kinonb.torch.KinoDataset on .knb", "kinonb on .knb")):
            ours = rate.get((name, w))
            _row(rows, f"episode mode, camera, workers {w}", "kinodb.torch", peer, label, ours, _ratio(ours, peer), 1,
                 " ep/s")


def _cold_rows(rows: list, c: dict) -> None:
    e = c["epochs"]
    rate = {k: v["samples"] / v["seconds"] for k, v in e.items()}
    warm, cold = rate["kinonb Loader, warm"], rate["kinonb Loader, cold, prefetch (default)"]
    _row(rows, "cold first epoch vs warm (1,000 x 200, camera in the file)", "kinonb warm", warm, "kinonb cold", cold,
         _ratio(cold, warm), 0.5)
    peer = rate.get("robomimic cache 'all', cold (cache build included)")
    _row(rows, "cold first epoch (1,000 x 200, camera in the file)", "robomimic 'all' cold", peer, "kinonb cold",
         cold, _ratio(cold, peer), 1)
    first = c["first_batch_s"]
    if "robomimic" in first:
        for regime in ("warm", "cold"):
            ours, peer = first["kinonb"][regime], first["robomimic"][regime]
            _row(rows, f"import to first batch, {regime} (peer time / kinonb time)", "robomimic", peer, "kinonb", ours,
                 _ratio(peer, ours), 1, " s")


def _kdb_rows(rows: list, k: dict) -> None:
    for r in k["opens"]:
        for label, f in (("reopen", r), ("first open in a process", r["first"])):
            for ours, name in (("kinonb_knb_us", ".knb"), ("kinonb_kdb_us", ".kdb")):
                _row(rows, f"open, {r['episodes']:,} episodes, {label} (peer time / kinonb time)", "kinodb .kdb",
                     f["kinodb_kdb_us"], f"kinonb {name}", f[ours], _ratio(f["kinodb_kdb_us"], f[ours]), 1, " us")
    for r in k["reads"]:
        _row(rows, f"kinodb's .kdb, {r['file']}, `{r['read']}` (peer time / kinonb time)", "kinodb", r["kinodb_us"],
             "kinonb", r["kinonb_us"], r["ratio"], 1, " us")


def _query_row(rows: list, q: dict) -> None:
    ours, peer = q["rows"]["kinonb.open"], q["rows"].get("kinodb.open (the real peer)")
    t = ours["open_s"] + ours["query_s"]
    p = None if peer is None else peer["open_s"] + peer["query_s"]
    _row(rows, f"first KQL query, {q['episodes']:,}-episode .kdb, open included (peer time / kinonb time)",
         "kinodb", p, "kinonb", t, _ratio(p, t), 1, " s")


def _write_rows(rows: list, w: dict) -> None:
    peer = w.get("kinodb")
    for r in w["rows"]:
        ours = r["episodes"] / r["seconds"]
        theirs = None if peer is None else peer["episodes"] / peer["seconds"]
        goal = 0.5 if r.get("loop") else 1
        _row(rows, f"write, {r['label']}", "kino create-test", theirs, "kinonb", ours, _ratio(ours, theirs), goal,
             " ep/s")


def _kernel_rows(rows: list, k: dict) -> None:
    mm, ram = k["kinonb kernel, memmap (page cache)"], k["same Numba loop, in-RAM array"]
    take = k["numpy np.take, indices precomputed"]
    _row(rows, "window gather kernel, memmap vs the same loop in RAM", "in-RAM loop", ram, "memmap", mm,
         _ratio(mm, ram), 0.9, " batches/s")
    _row(rows, "window gather kernel, memmap vs np.take", "np.take (in RAM)", take, "memmap", mm, _ratio(mm, take), 2,
         " batches/s")


def _ingest_row(rows: list, h: dict) -> None:
    dup = "state" in h["columns"]
    rows.append(("HDF5 ingest of Lift: bytes, obs/state stored once", f"HDF5: {h['hdf5_bytes']:,} B",
                 f"kinonb: {h['knb_bytes']:,} B ({', '.join(h['columns'])})",
                 f"{h['hdf5_bytes'] / h['knb_bytes']:.2f}x smaller", "once", "**no**" if dup else "yes"))


def report(r: dict) -> str:
    rows: list = []
    if "peers_lift" in r:
        _peer_rows(rows, r["peers_lift"], "Lift (real)")
    _peer_rows(rows, r["peers_synthetic"], f"synthetic {r['peers_synthetic']['episodes']:,} x 200")
    _worker_rows(rows, r["peers_synthetic"], r["loader"])
    _episode_rows(rows, r["episode_mode"])
    _cold_rows(rows, r["cold"])
    _kdb_rows(rows, r["kdb"])
    _query_row(rows, r["query"])
    _write_rows(rows, r["writes"])
    _kernel_rows(rows, r["kernels"])
    if "hdf5_ingest" in r:
        _ingest_row(rows, r["hdf5_ingest"])
    met = sum(row[-1] == "yes" for row in rows)
    lines = [f"{met} of {len(rows)} rows meet their goal ({'quick' if r['quick'] else 'default'} sizes; sections took "
             f"{sum(r['seconds'].values()):,.0f} s).", "",
             "| regime | peer | kinonb | ratio | goal | met |", "|---|---|---|---:|---:|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    notes = [n for key in ("peers_lift", "peers_synthetic", "episode_mode") for n in r.get(key, {}).get("notes", [])]
    notes += r.get("writes", {}).get("notes", []) + r["skipped"]
    lines += [""] + [f"- {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines)
