"""The field map of the generic formats (npz, pickle, hf_datasets): which source key fills which kinonb field.

A source episode is a tree: nested dicts whose leaves are numpy arrays or plain values (an npz file's keys, a
pickled episode dict, meta.json beside an npz, a row group of a datasets table). ``--map TARGET=PATH`` (Python:
``key_map={TARGET: PATH}``) names the source leaf for a target; PATH is a dotted path into the nested dicts,
with ``.`` or ``/`` between levels (``obs.qpos``, ``obs/qpos``); a key that itself holds dots
(``observation.state``) is matched whole first.

Targets:
    actions, states, rewards, is_terminal, timestamps   the fixed roles and the frame clock
    task, embodiment, fps, success                      episode metadata (a string / number / bool leaf)
    images.<cam>                                        a camera (uint8 (T, H, W, C))
    columns.<name>                                      an extra per-frame column (T or T+1 rows)
    episode_arrays.<name>                               one array per episode (any shape, ndim <= 4)
    <name> (anything else)                              the leaf stored under <name>: a camera when it is
                                                        camera-shaped uint8, else a column (the older formats'
                                                        renames, ``--map top=img``)

Targets left unmapped take the first of DEFAULTS[target] that the episode holds.
"""

from __future__ import annotations

from ...errors import InvalidArgumentError

ROLES = ("actions", "states", "rewards", "is_terminal", "timestamps")
META = ("task", "embodiment", "fps", "success")
PREFIXES = ("images.", "columns.", "episode_arrays.")
#: Common source names of each target, in order of preference (paths as :func:`flatten` spells them).
DEFAULTS = {
    "actions": ("actions", "action", "acts"),
    "states": ("states", "state", "observations", "observation.state", "observation", "obs", "qpos"),
    "rewards": ("rewards", "reward"),
    "is_terminal": ("is_terminal", "terminals", "terminal", "dones", "done"),
    "timestamps": ("timestamps", "timestamp", "time"),
    "task": ("task", "language_instruction", "meta.task", "meta.language_instruction", "instruction"),
    "embodiment": ("embodiment", "robot_type", "robot_name", "meta.embodiment", "meta.robot_type"),
    "fps": ("fps", "meta.fps", "control_freq", "meta.control_freq"),
    "success": ("success", "meta.success", "is_success"),
}
SEPARATORS = "./"
MISSING = object()


def parse_field_map(key_map: dict | None) -> dict:
    """``key_map`` ({target: path}) checked: every target a role, a metadata field, ``<prefix><name>`` with a
    non-empty name, or a plain rename; every path non-empty. InvalidArgumentError names a bad entry."""
    out = {}
    for target, path in (key_map or {}).items():
        if not isinstance(target, str) or not target or not isinstance(path, str) or not path.strip(SEPARATORS):
            raise InvalidArgumentError(f"--map / key_map entries must be TARGET=PATH with both non-empty, got "
                                       f"{target!r}={path!r}")
        for prefix in PREFIXES:
            if target.startswith(prefix) and not target[len(prefix):]:
                raise InvalidArgumentError(f"--map {target}={path}: name the {prefix[:-1]} entry, e.g. "
                                           f"--map {prefix}front={path}")
        out[target] = path
    return out


def split_target(target: str) -> tuple[str, str]:
    """(kind, name): ("role", "actions"), ("meta", "task"), ("images", "front"), ("columns", "x"),
    ("episode_arrays", "init_qpos") or ("rename", target)."""
    if target in ROLES:
        return "role", target
    if target in META:
        return "meta", target
    for prefix in PREFIXES:
        if target.startswith(prefix):
            return prefix[:-1], target[len(prefix):]
    return "rename", target


def lookup(tree, path: str):
    """(the flattened path, the leaf) at ``path`` in ``tree`` (nested dicts), or (None, MISSING). A key is matched
    whole before it is split at a separator, so ``observation.state`` finds that key and ``obs.qpos`` finds
    ``tree["obs"]["qpos"]``."""
    path = path.strip(SEPARATORS)
    if not isinstance(tree, dict):
        return None, MISSING
    if path in tree:
        return path, tree[path]
    for i in range(len(path) - 1, 0, -1):  # longest key first
        if path[i] in SEPARATORS and path[:i] in tree:
            inner, leaf = lookup(tree[path[:i]], path[i + 1:])
            if leaf is not MISSING:
                return f"{path[:i]}.{inner}", leaf
    return None, MISSING


def flatten(tree, prefix: str = "", depth: int = 0) -> dict:
    """{dotted path: leaf} of every leaf under ``tree`` (nested dicts; lists and arrays are leaves), depth first
    in key order. Nesting deeper than 16 levels is refused (an untrusted pickle can nest without bound)."""
    if depth > 16:
        raise InvalidArgumentError(f"{prefix.rstrip('.')}: nested more than 16 levels deep")
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{path}.", depth + 1))
        else:
            out[path] = value
    return out


def resolve(tree, fmap: dict, leaves: dict) -> tuple[dict, set]:
    """({target: (path, leaf)} for every mapped target and every default the episode holds, the paths used).
    A mapped path the episode lacks is returned as (path, MISSING), for the caller to report."""
    found, used = {}, set()
    for target, path in fmap.items():
        key, leaf = lookup(tree, path)
        found[target] = (key or path, leaf)
        if key is not None:
            used.add(key)
    for target, names in DEFAULTS.items():
        if target in found:
            continue
        key = next((n for n in names if n in leaves and n not in used), None)
        if key is not None:
            found[target] = (key, leaves[key])
            used.add(key)
    return found, used
