"""The ``mix`` command: plan (and optionally sample) a weighted mixture of files."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .output import EXIT_OK, _print_json


def cmd_mix(args) -> int:
    from ..ops.mixture import mixture, parse_source, sample_mixture

    try:
        sources = [parse_source(s) for s in args.source]
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.list and args.sample is None:
        raise UsageError("--list lists the pairs that --sample N draws; give --sample N")
    if sum(w for _, w in sources) <= 0:
        raise UsageError("mixture weights sum to 0; give at least one --source a positive weight")
    plan = mixture(sources)
    result = {"sources": plan}
    if args.sample is not None:
        pairs, counts = sample_mixture(plan, args.sample, args.seed)
        result["sample"] = {
            "n": args.sample, "seed": args.seed,
            "counts": counts.tolist(),
            "distinct_episodes": [int(len(np.unique(pairs[pairs[:, 0] == k, 1]))) for k in range(len(plan))],
        }
        if args.list:  # every draw in order; by default only the summary above
            result["sample"]["pairs"] = pairs.tolist()
    if args.json:
        _print_json(result)
        return EXIT_OK
    width = max(len(s["path"]) for s in plan)
    print(f"{'source':<{width}} {'weight':>8} {'share':>7} {'episodes':>9} {'frames':>10}")
    for s in plan:
        print(f"{s['path']:<{width}} {s['weight']:>8.4g} {s['share']:>7.3f} {s['episodes']:>9} {s['frames']:>10}")
    if args.sample is not None:
        sample = result["sample"]
        print(f"sample of {args.sample} (source, episode) pairs, seed {args.seed}:")
        for s, c, d in zip(plan, sample["counts"], sample["distinct_episodes"]):
            share = c / args.sample if args.sample else 0.0
            print(f"{s['path']:<{width}} {c:>8} draws ({share:6.1%}), {d} distinct episodes")
        if args.list:
            print("draws in order (source position, episode position):")
            for k, episode in result["sample"]["pairs"]:
                print(f"{k} {episode}")
    return EXIT_OK
