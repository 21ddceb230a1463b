"""Remote window batches (issue 17): a .knb in a local S3-compatible server against the same file on local disk.

    python -m bench.bench_remote [--quick] [--episodes N] [--batches B] [--json PATH|-]

Three servers on 127.0.0.1, each started and stopped here, hold the file: a range HTTP server
(``kinonb.testing.range_server``), moto's S3 server (``ThreadedMotoServer``; it reads the whole object for each
range request) and, when installed (``npm install s3rver``; ``KINONB_S3RVER`` or PATH), s3rver, an S3 server
that reads each range from the file on disk; s3fs reads the S3 ones (``kinonb.open("s3://...",
storage_options=...)``). Each row reads the same B batches of 256 random
window samples (actions ``t .. t+15`` and the state at ``t``; in the image rows also a 64x64 camera, lz4 or
JPEG, at ``t``) through ``sample_index().read``: the local file cold (evicted from the page cache, opened with
``access="random"``), the remote file with its block cache cold (a new reader, an empty cache) and warm (the same
batches again). Values are checked equal to the local file's. Requests per batch count every call to the store.
Goal (the issue): remote at least 0.5x local-cold samples/s with the cache cold, 0.9x with it warm.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .report import print_and_save

SEQ, BATCH = 16, 256
MOTO_BATCHES = 5  # moto reads the whole object per range request: a few batches show it


def write(path: Path, episodes: int, camera: str | None) -> None:
    import kinonb

    rng = np.random.default_rng(0)
    with kinonb.create(path, compression=None if camera is None else {"front": camera}) as w:
        for _ in range(episodes):
            t = int(rng.integers(150, 250))
            images = None if camera is None else {"front": rng.integers(0, 255, (t, 64, 64, 3), np.uint8)}
            w.add_episode(rng.normal(size=(t, 7)).astype(np.float32), rng.normal(size=(t, 32)).astype(np.float32),
                          images=images)


def windows(camera: bool) -> dict:
    return {"actions": range(SEQ), "states": [0]} | ({"front": [0]} if camera else {})


def timed(index, batches: list[np.ndarray]) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    out = [index.read(ids) for ids in batches]
    return len(batches) * BATCH / (time.perf_counter() - t0), out


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def case(path: Path, url: str, options: dict, camera: str | None, batches: int) -> dict:
    import kinonb

    wins = windows(camera is not None)
    evict(path)
    local = kinonb.open(path, access="random").sample_index(wins)
    rng = np.random.default_rng(1)
    ids = [rng.integers(0, len(local), BATCH) for _ in range(batches)]
    local_rate, want = timed(local, ids)
    t0 = time.perf_counter()
    db = kinonb.open(url, storage_options=options)
    open_s, open_requests = time.perf_counter() - t0, db.requests
    index = db.sample_index(wins)
    counts = db.source.counts
    before, ranges = counts.requests, counts.ranges
    cold_rate, got = timed(index, ids)
    cold_requests, cold_ranges = counts.requests - before, counts.ranges - ranges
    warm_rate, again = timed(index, ids)
    for a, b in zip(want, got + again[:1]):
        assert all(np.array_equal(a[k], b[k]) for k in a), "remote values differ from the local file's"
    return {"camera": camera or "none", "file_mb": path.stat().st_size / 1e6, "open_s": open_s,
            "open_requests": open_requests, "local_cold": local_rate, "remote_cold": cold_rate,
            "remote_warm": warm_rate, "requests_per_batch_cold": cold_requests / batches,
            "requests_per_batch_warm": (db.requests - before - cold_requests) / batches,
            "ranges_per_batch_cold": cold_ranges / batches,
            "fetched_mb": db.source.counts.bytes / 1e6}


def run(episodes: int, batches: int, tmp: Path) -> dict:
    """Every camera kind through both servers: moto's S3 (the S3 protocol; it reads a whole object for each range
    request, so its cost grows with the file) and a range HTTP server (``kinonb.testing.range_server``: a request
    costs the same whatever the file's size, as an object store's does)."""
    import s3fs
    from moto.server import ThreadedMotoServer

    from kinonb.testing.range_server import RangeServer

    files = {}
    for camera in (None, "lz4", "jpeg"):
        files[camera] = tmp / f"d-{camera}.knb"
        write(files[camera], episodes, camera)
    rows = []
    with RangeServer(tmp) as http:
        for camera, path in files.items():
            rows.append(dict(case(path, http.url(path.name), {}, camera, batches), server="range HTTP"))
    rows += s3rver_rows(files, batches, tmp)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        options = {"endpoint_url": f"http://{host}:{port}", "key": "bench", "secret": "bench"}
        fs = s3fs.S3FileSystem(**options)
        fs.mkdir("kinonb-bench")
        for camera, path in files.items():
            fs.pipe(f"kinonb-bench/{path.name}", path.read_bytes())
            rows.append(dict(case(path, f"s3://kinonb-bench/{path.name}", options, camera, min(batches, MOTO_BATCHES)),
                             server="moto S3"))
    finally:
        moto.stop()
    return {"episodes": episodes, "batches": batches, "moto_batches": min(batches, MOTO_BATCHES), "rows": rows}


def s3rver_command() -> str | None:
    """The ``s3rver`` executable (npm's fake S3 server, which serves a range from the file on disk): the
    ``KINONB_S3RVER`` environment variable, else the one on PATH; None when there is none."""
    return os.environ.get("KINONB_S3RVER") or shutil.which("s3rver")


def s3rver_rows(files: dict, batches: int, tmp: Path) -> list[dict]:
    """The rows through s3rver (``npm install s3rver``), started on 127.0.0.1 here and stopped after; none
    without it."""
    import socket

    import s3fs

    command = s3rver_command()
    if command is None:
        return []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp / "s3rver").mkdir()
    server = subprocess.Popen([command, "-d", str(tmp / "s3rver"), "-a", "127.0.0.1", "-p", str(port), "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "S3RVER", "secret": "S3RVER"}
        fs = s3fs.S3FileSystem(**options)
        for _ in range(100):  # up to 10 s for the server to listen
            try:
                fs.mkdir("kinonb-bench")
                break
            except OSError:
                time.sleep(0.1)
        rows = []
        for camera, path in files.items():
            fs.pipe(f"kinonb-bench/{path.name}", path.read_bytes())
            rows.append(dict(case(path, f"s3://kinonb-bench/{path.name}", options, camera, batches),
                             server="s3rver S3"))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=30)


def report(r: dict) -> str:
    lines = [f"## Remote window batches: {r['episodes']} episodes, {r['batches']} batches of {BATCH} "
             f"({r['moto_batches']} through moto)", "",
             "| server | camera | file MB | open (requests) | local cold | remote, cache cold | remote, cache warm | "
             "cold / local | warm / local | requests (ranges) a batch, cold | warm | fetched MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['server']} | {x['camera']} | {x['file_mb']:,.0f} | {x['open_s'] * 1e3:.0f} ms ({x['open_requests']}) | "
                     f"{x['local_cold']:,.0f}/s | {x['remote_cold']:,.0f}/s | {x['remote_warm']:,.0f}/s | "
                     f"{x['remote_cold'] / x['local_cold']:.2f}x | {x['remote_warm'] / x['local_cold']:.2f}x | "
                     f"{x['requests_per_batch_cold']:.2f} ({x['ranges_per_batch_cold']:.0f}) | "
                     f"{x['requests_per_batch_warm']:.2f} | "
                     f"{x['fetched_mb']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 episodes, 10 batches")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--json", help="write the figures as JSON to this path (- for stdout)")
    args = ap.parse_args(argv)
    episodes, batches = (50, 10) if args.quick else (args.episodes, args.batches)
    with tempfile.TemporaryDirectory(prefix="kinonb-bench-remote-", dir=os.environ.get("KINONB_BENCH_TMP")) as tmp:
        r = run(episodes, batches, Path(tmp))
    print_and_save(report(r), r, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
