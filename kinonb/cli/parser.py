"""The argument parser of the command line: ``build_parser()``, its help formatter and its argument types.

Subcommands are registered in the order ``kinonb --help`` lists them; each ``_add_*`` function defines one.
"""

from __future__ import annotations

import argparse

from .bench import cmd_bench
from .check import cmd_create_test, cmd_salvage, cmd_validate
from .convert import cmd_export, cmd_ingest, cmd_merge
from .dataset import cmd_manifest
from .edit import cmd_annotate, cmd_compact, cmd_delete, cmd_diff, cmd_log, cmd_relabel
from .inspect import cmd_info, cmd_query, cmd_schema
from .look import cmd_stats, cmd_view
from .mix import cmd_mix
from .output import PROG


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in each command's help laid out as written (argparse would refill them)."""


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected an integer >= 1, got 0")
    return v


def _top_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="kinonb: episode-first storage for robot-learning data (kinodb's `kino` commands).",
        epilog="examples:\n  kinonb create-test demo.knb -n 20 --frames 50 --images\n  kinonb info demo.knb\n"
               "  kinonb query demo.knb \"success = true AND num_frames > 25\"\n\n"
               "exit status: 0 ok, 1 data problem, 2 usage error. `kinonb COMMAND --help` for each command.")
    parser.add_argument("--version", action="version", version=f"kinonb {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no informational lines")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    return parser


def _common_options() -> argparse.ArgumentParser:
    """-q and --debug after the command too (SUPPRESS: they do not override the ones given before it)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars and no informational lines")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an error")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _top_parser()
    common = _common_options()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_text, example, common_options=True):
        p = sub.add_parser(name, parents=[common] if common_options else [], help=help_text, description=help_text,
                           epilog=f"example:\n  {example}", formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    for define in (_add_create_test, _add_info, _add_schema, _add_stats, _add_view, _add_validate, _add_salvage,
                   _add_query, _add_merge, _add_mix, _add_ingest, _add_export, _add_log, _add_diff, _add_compact,
                   _add_delete, _add_relabel, _add_manifest, _add_bench):
        define(add)
    return parser


def _add_log(add) -> None:
    p = add("log", cmd_log, "list the commits of a .knb file: seq, time, episodes, bytes, what changed",
            "kinonb log data.knb")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_diff(add) -> None:
    p = add("diff", cmd_diff, "episodes added, removed and changed between two files or commits (FILE@K: commit K, "
            "negative from the newest)", "kinonb diff data.knb@-2 data.knb")
    p.add_argument("a", help="FILE or FILE@COMMIT")
    p.add_argument("b", help="FILE or FILE@COMMIT")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_compact(add) -> None:
    p = add("compact", cmd_compact, "write a new .knb holding only the live bytes of a file (edits leave old ones)",
            "kinonb compact data.knb -o data-compact.knb")
    p.add_argument("path")
    p.add_argument("-o", "--output", required=True, help="the new .knb file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_delete(add) -> None:
    p = add("delete", cmd_delete, "delete episodes in one commit (later positions shift down; `kinonb compact` "
            "reclaims the bytes)", "kinonb delete data.knb 3 10:20 --query \"success = false\" --dry-run")
    p.add_argument("path")
    p.add_argument("positions", nargs="*", help="positions (3) and ranges (10:20 is 10 to 19)")
    p.add_argument("--query", default=None, help="also delete the episodes this KQL query selects")
    p.add_argument("--dry-run", action="store_true", help="print what would be deleted; write nothing")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_relabel(add) -> None:
    for name, func, what, example in (
            ("relabel", cmd_relabel, "task, embodiment, success, total_reward, fps, attrs",
             "kinonb relabel data.knb --from labels.csv --dry-run"),
            ("annotate", cmd_annotate, "instructions (CSV: separated by |) and segments ([[start, end, text], ...])",
             "kinonb annotate data.knb --from annotations.json")):
        p = add(name, func, f"set {what} of episodes, from a CSV (a position column) or JSON file "
                f"({{position: {{field: value}}}} or a list of objects with a position), in one commit", example)
        p.add_argument("path")
        p.add_argument("--from", dest="source", required=True, help="the CSV or JSON file of position -> fields")
        p.add_argument("--dry-run", action="store_true", help="print each change (before -> after); write nothing")
        p.add_argument("--json", action="store_true", help="print JSON")


def _add_create_test(add) -> None:
    p = add("create-test", cmd_create_test, "write a synthetic dataset (kinodb's create-test episodes)",
            "kinonb create-test demo.knb -n 20 --frames 50 --images --compress lz4")
    p.add_argument("path", help="the .knb file to create")
    p.add_argument("-n", "--num-episodes", type=_nonneg_int, default=20, help="episodes (default 20)")
    p.add_argument("--frames", type=_pos_int, default=50, help="frames per episode (default 50)")
    p.add_argument("--images", action="store_true", help="add two 64x64 cameras, front and wrist")
    p.add_argument("--compress", choices=["none", "lz4"], default="none", help="camera compression")
    p.add_argument("--seed", type=int, default=None,
                   help="add seeded N(0, 0.01) noise to states and actions (default: kinodb's exact values)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")


def _add_info(add) -> None:
    p = add("info", cmd_info, "summarise a .knb (or .kdb) file", "kinonb info data.knb --episodes")
    p.add_argument("path")
    p.add_argument("--episodes", action="store_true", help="list every episode's metadata")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_schema(add) -> None:
    p = add("schema", cmd_schema, "list the columns of a file (name, role, dtype, per-frame shape, codec)",
            "kinonb schema data.knb --json")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_stats(add) -> None:
    p = add("stats", cmd_stats, "per-dimension min / max / mean / std of actions, states, rewards and extra columns, "
            "episode lengths and success rate; --plot draws their histograms", "kinonb stats data.knb --plot stats.png")
    p.add_argument("path")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="draw the histograms to this image (matplotlib)")
    p.add_argument("--bins", type=_pos_int, default=50, help="histogram buckets per dimension (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON (histograms included)")


def _add_view(add) -> None:
    p = add("view", cmd_view, "log episodes to Rerun: scalar plots per dimension, cameras, task / success / attrs "
            "as text, episode boundaries on the timeline", "kinonb view data.knb --episodes 0,3,7 --save out.rrd")
    p.add_argument("path")
    p.add_argument("--episodes", default=None, metavar="0,3,10:20", help="positions (default: the first 10)")
    p.add_argument("--save", default=None, metavar="OUT.rrd", help="write the recording to this .rrd file")
    p.add_argument("--spawn", action="store_true", help="open a Rerun viewer and stream the recording to it")


def _add_validate(add) -> None:
    p = add("validate", cmd_validate, "check a file: structures; with --deep also every checksum and value",
            "kinonb validate data.knb --deep --repair")
    p.add_argument("path")
    p.add_argument("--deep", action="store_true", help="verify every block's CRC-32, decode every block, count NaN/Inf")
    p.add_argument("--repair", action="store_true",
                   help="truncate a torn tail back to the last intact commit, then validate again (asks on a "
                        "terminal; refuses to remove episodes `kinonb salvage` can recover unless --force)")
    p.add_argument("--force", action="store_true", help="with --repair: remove the tail without asking")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_salvage(add) -> None:
    p = add("salvage", cmd_salvage, "recover every episode whose bytes survive from a cut or damaged .knb file "
            "into a new file (exit 1 when episodes were lost)", "kinonb salvage broken.knb -o rescued.knb")
    p.add_argument("path", help="the damaged .knb file (never changed)")
    p.add_argument("-o", "--output", required=True, help="the new .knb file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_query(add) -> None:
    p = add("query", cmd_query, "list the episodes a KQL query selects (docs/kql.md)",
            "kinonb query data.knb \"success = true AND num_frames > 25\" --limit 10")
    p.add_argument("path")
    p.add_argument("kql", help="the query, e.g. \"embodiment = 'franka' AND success = true\"")
    p.add_argument("--limit", type=_nonneg_int, default=None, help="list at most N episodes (the count is total)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_merge(add) -> None:
    p = add("merge", cmd_merge, "merge .knb / .kdb files into a new .knb (episode ids renumbered unless --keep-ids)",
            "kinonb merge a.knb b.knb -o all.knb --filter \"success = true\"")
    p.add_argument("inputs", nargs="+", help="input files, copied in this order")
    p.add_argument("-o", "--output", required=True, help="the new .knb file")
    p.add_argument("--filter", default=None, help="KQL: keep only the episodes it selects")
    p.add_argument("--keep-ids", action="store_true", help="keep episode ids (an error when two collide)")
    p.add_argument("--compress", choices=["none", "lz4"], default=None,
                   help="camera compression (default: lz4 when an input uses it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_mix(add) -> None:
    p = add("mix", cmd_mix, "plan a weighted mixture of files (relative weights, as kinodb's from_mixture)",
            "kinonb mix --source a.knb:0.4 --source b.knb:0.6 --sample 1000 --seed 0")
    p.add_argument("--source", action="append", required=True, metavar="PATH[:WEIGHT]",
                   help="a file and its relative weight (default 1); repeat per source")
    p.add_argument("--sample", type=_nonneg_int, default=None, metavar="N",
                   help="draw N (source, episode) pairs by weight and print a summary: draws and distinct "
                        "episodes per source")
    p.add_argument("--list", action="store_true",
                   help="with --sample: also list every draw, in order, as (source position, episode position)")
    p.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _add_ingest(add) -> None:
    from ..interop.ingest import FORMATS

    p = add("ingest", cmd_ingest, "convert a dataset (kdb, hdf5, lerobot, zarr, rlds, rrd, npz, pickle, "
            "hf_datasets) into a new .knb",
            "kinonb ingest low_dim.hdf5 -o lift.knb --format hdf5 --embodiment panda --fps 20\n"
            "  kinonb ingest pusht.zarr -o pusht.knb --format zarr --map top=img --compress lz4\n"
            "  kinonb ingest rollouts/ -o r.knb --format npz --map actions=act --map states=obs.qpos\n"
            "  kinonb ingest demos.hdf5 -o d.knb --compress agentview=jpeg --compress wrist=lz4\n"
            "  kinonb ingest demos.pickle -o d.knb --format pickle --map episode_arrays.init=init_state_dict.qpos\n"
            "  kinonb ingest recordings/ -o r.knb --format rrd --index frame_index --map actions=/action\n"
            "  kinonb ingest demos.hdf5 -o demos/ --shards 8 --workers 4   # resumable: run it again after a crash")
    p.add_argument("src", help="the source file or directory")
    p.add_argument("-o", "--output", required=True, help="the new .knb file (with --shards: the dataset folder)")
    p.add_argument("--shards", type=_pos_int, default=None, metavar="N",
                   help="write N .knb shards (shard-00000.knb, ...) and a manifest into the folder -o, resumably: "
                        "the same command run again continues an interrupted ingest")
    p.add_argument("--workers", type=_pos_int, default=1, metavar="K",
                   help="with --shards: write the shards with K worker processes (default 1)")
    p.add_argument("--commit-every", type=_pos_int, default=None, metavar="E",
                   help="with --shards: a shard in progress also commits every E episodes (default: every 64 MiB "
                        "of blocks), bounding what a crash makes the next run read again")
    p.add_argument("--no-resume", action="store_true",
                   help="with --shards: refuse a folder an earlier ingest left unfinished instead of continuing it")
    p.add_argument("--format", choices=FORMATS, default=None, help="the source format (default: detect)")
    p.add_argument("--embodiment", default=None, help="override the embodiment")
    p.add_argument("--task", default=None, help="override the task")
    p.add_argument("--fps", type=float, default=None, help="override the frame rate")
    p.add_argument("--max-episodes", type=_nonneg_int, default=None, metavar="N", help="stop after N episodes")
    p.add_argument("--compress", action="append", metavar="CODEC|CAMERA=CODEC",
                   help="how decoded camera frames are stored: none, lz4, jpeg or video for every camera, or per "
                        "camera (front=jpeg,wrist=lz4, or repeated flags; cameras not named stay raw)")
    p.add_argument("--transcode", choices=["jpeg", "lz4", "raw"], default=None,
                   help="lerobot / rlds / rrd: decode the cameras and store them this way (default: keep the "
                        "source's video packets / JPEG bytes)")
    p.add_argument("--map", action="append", metavar="NAME=KEY",
                   help="fill a role (actions, states, rewards, is_terminal) from a source key, or store a "
                        "source key under another name; npz / pickle / hf_datasets also take timestamps, task, "
                        "embodiment, fps, images.CAM, columns.NAME, episode_arrays.NAME and dotted KEYs "
                        "(obs.qpos); repeatable")
    p.add_argument("--index", default=None, metavar="TIMELINE",
                   help="rrd: the timeline whose values are the frames (default frame_index; a time timeline too)")
    p.add_argument("--segment-by", default=None, metavar="ENTITY",
                   help="rrd: one episode per run of equal values of this entity (default: one per recording)")
    p.add_argument("--split", default=None,
                   help="hdf5: keep the demos of mask/SPLIT; rlds, hf_datasets: read one split")
    p.add_argument("--keep-large-attrs", action="store_true",
                   help="hdf5: keep string attributes over 16 KiB (robosuite's model_file XML)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the report (episodes, frames, skipped, notes) as JSON")


def _add_export(add) -> None:
    p = add("export", cmd_export, "write a .knb file as a kinodb .kdb file (or a new .knb, a LeRobot dataset, "
            "a folder of Rerun recordings)", "kinonb export data.knb -o data.kdb --format kdb\n"
            "  kinonb export data.knb -o recordings/ --format rrd")
    p.add_argument("path")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=["kdb", "knb", "lerobot", "rrd"], default="kdb",
                   help="output format (default kdb; lerobot: a LeRobot v3.0 dataset directory; rrd: a folder with "
                        "one Rerun recording per episode)")
    p.add_argument("--timestamp", type=_nonneg_int, default=None,
                   help="kdb: the header's created_timestamp (default: now), for reproducible files")
    p.add_argument("--keep-ids", action="store_true", help="kdb: store episode ids (default: positions, as kinodb)")
    p.add_argument("--compress", choices=["none", "lz4"], default=None, help="knb: camera compression")
    p.add_argument("--filter", default=None, help="knb: KQL, keep only the episodes it selects")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_manifest(add) -> None:
    p = add("manifest", cmd_manifest, "write the manifest (kinonb-dataset.json) of a folder of .knb shards, each "
            "pinned at its newest commit", "kinonb manifest shards/")
    p.add_argument("folder")
    p.add_argument("--shards", nargs="+", metavar="FILE", help="the shards in dataset order (default: the "
                   "folder's .knb files in name order)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _add_bench(add) -> None:
    p = add("bench", cmd_bench, "run the end-to-end benchmark suite (bench/run.py) and print its table",
            "kinonb bench --quick\n  kinonb bench --quick --out results/ --no-cold", common_options=False)
    p.description = (
        "Run the end-to-end benchmark suite (kinonb.bench.run; `python -m bench.run` in a source checkout) and "
        "print its table.\n\nEvery argument after `bench` goes to the benchmark, options included:\n"
        "  --quick      small sizes, about a minute\n"
        "  --out DIR    where results.json, results.md and the plots go\n"
        "  --publish    also copy them to docs/bench/ (a source checkout)\n"
        "`kinonb bench -- --help` prints all of the benchmark's options; kinonb's own -q / --debug go before "
        "`bench`.\nThe benchmark needs matplotlib, h5py, zarr, pyarrow and torch: pip install 'kinonb[bench]'.")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="BENCH_ARGS",
                   help="the benchmark's arguments, e.g. --quick --publish")
