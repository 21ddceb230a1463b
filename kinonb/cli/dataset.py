"""``kinonb manifest DIR``: write the manifest of a folder of shards (docs/datasets.md)."""

from __future__ import annotations

from .output import EXIT_OK, _info, _print_json


def cmd_manifest(args) -> int:
    from ..interop.dataset import write_manifest

    manifest = write_manifest(args.folder, args.shards or None)
    doc = manifest.to_json()
    if args.json:
        _print_json(doc)
        return EXIT_OK
    _info(args, f"wrote {manifest.where}: {len(manifest.shards)} shards, {manifest.episodes} episodes, "
               f"{manifest.frames} frames, each shard pinned at its newest commit")
    return EXIT_OK
