"""The commands that show a file: ``view`` (episodes in Rerun) and ``stats`` (per-dimension statistics, and
their histograms with ``--plot``)."""

from __future__ import annotations

from ..errors import UsageError
from .output import EXIT_OK, _info, _print_json, escaped


def _positions(text: str | None) -> list[int] | None:
    """``"0,3,7"`` and ranges ``"10:20"`` (10 to 19) as positions; None for None."""
    if text is None:
        return None
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            if ":" in part:
                a, b = part.split(":", 1)
                out += range(int(a), int(b))
            else:
                out.append(int(part))
        except ValueError:
            raise UsageError(f"--episodes takes positions and ranges like 0,3,10:20, got {part!r}") from None
    return out


def cmd_view(args) -> int:
    from ..ops.export_rrd import view

    if (args.save is None) == (not args.spawn):
        raise UsageError("pass --save OUT.rrd (write a recording) or --spawn (open a Rerun viewer)")
    shown = view(args.path, episodes=_positions(args.episodes), save=args.save, spawn=args.spawn)
    where = args.save if args.save else "a spawned Rerun viewer"
    _info(args, f"logged {len(shown)} episodes ({', '.join(map(str, shown[:12]))}"
                f"{', ...' if len(shown) > 12 else ''}) of {args.path} to {where}")
    return EXIT_OK


def cmd_stats(args) -> int:
    from ..ops.stats import low_dim_stats, plot_stats

    stats = low_dim_stats(args.path, bins=args.bins)
    if args.plot:
        plot_stats(stats, args.plot)
    if args.json:
        _print_json({k: v for k, v in stats.items() if k != "lengths"} | {"num_frames": sum(stats["lengths"])})
        return EXIT_OK
    lengths, s = stats["lengths"], stats["success"]
    known = s["true"] + s["false"]
    print(f"{args.path}: {stats['episodes']} episodes, {sum(lengths)} frames; length min {min(lengths, default=0)}"
          f", max {max(lengths, default=0)}, mean {sum(lengths) / max(len(lengths), 1):.1f}")
    print(f"success: {s['true']} true, {s['false']} false, {s['unknown']} unknown"
          + (f" ({s['true'] / known:.1%} of the known)" if known else ""))
    print(f"{'column':<24} {'dim':>4} {'min':>11} {'max':>11} {'mean':>11} {'std':>11}")
    for name, c in stats["columns"].items():
        for d in range(len(c["mean"])):
            print(f"{escaped(name)[:24]:<24} {d:>4} {c['min'][d]:>11.4g} {c['max'][d]:>11.4g} {c['mean'][d]:>11.4g} "
                  f"{c['std'][d]:>11.4g}")
    if args.plot:
        _info(args, f"histograms drawn to {args.plot}")
    return EXIT_OK
