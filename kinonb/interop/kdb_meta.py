"""The KQL metadata table of a ``.kdb`` file, parsed with numpy over every episode's meta blob at once.

A meta blob is ``u16 + embodiment``, ``u16 + task``, ``f32 fps``, ``u8 success``, ``u8 reward_present`` and,
when that flag is 1, ``f32 total_reward`` (kdb_layout.py). The index check has already placed each blob inside
the file with at least ``META_MIN_SIZE`` bytes. Here every later position is checked against its blob's end
before a byte at it is gathered; an episode that fails any check, or whose strings are not utf-8, is handed to
``meta_of(i)``, the per-episode parser, which raises that episode's own error. So the first bad episode raises
exactly what reading its metadata alone would. Camera names need the image section's first frame: those are
parsed per episode, and only for episodes whose first frame has a camera.
"""

from __future__ import annotations

import numpy as np

from ..format import success as success_code
from ..kernels.jit import kernel
from ..query import MetaTable
from ..query.table import attr_lookup


def _u16(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return buf[pos].astype(np.int64) | (buf[pos + 1].astype(np.int64) << 8)


def _texts(buf: np.ndarray, start: np.ndarray, length: np.ndarray, first: np.ndarray, group: np.ndarray):
    """(each group's utf-8 text, episodes whose bytes are not utf-8)."""
    texts, bad = [], np.zeros(len(start), bool)
    for j, i in enumerate(first.tolist()):
        try:
            texts.append(bytes(buf[start[i] : start[i] + length[i]]).decode("utf-8"))
        except UnicodeDecodeError:
            texts.append("")
            bad |= group == j
    return texts, bad


@kernel
def parse_meta(buf, start, end, str_start, str_len, group, first_of, tail, slots, bad):
    """One pass over every meta blob: the two length-prefixed strings (starts, lengths, and a group id per field,
    equal bytes -> equal id, through an open-addressing table keyed by FNV-1a and confirmed byte for byte; the
    first episode of each group in ``first_of``), and the 10 bytes after them (fps, success, flag, reward) into
    ``tail``. ``bad`` where a length runs past the blob. Returns the number of groups per field."""
    mask = len(slots[0]) - 1
    groups = np.zeros(2, np.int64)
    for i in range(len(start)):
        pos, stop = start[i], end[i]
        for f in range(2):
            if pos + 2 > stop:
                bad[i] = True
                break
            n = np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8)
            if n > stop - pos - 2:
                bad[i] = True
                break
            str_start[f, i], str_len[f, i] = pos + 2, n
            pos += 2 + n
        if bad[i]:
            str_start[0, i] = str_start[1, i] = start[i]
            str_len[0, i] = str_len[1, i] = 0
            pos = start[i]
        for k in range(min(10, stop - pos)):
            tail[i, k] = buf[pos + k]
        for f in range(2):
            s0, n = str_start[f, i], str_len[f, i]
            h = np.uint64(0xCBF29CE484222325) ^ np.uint64(n)
            for k in range(n):
                h = (h ^ np.uint64(buf[s0 + k])) * np.uint64(0x100000001B3)
            j = np.int64(h & np.uint64(mask))
            while True:
                r = slots[f, j]
                if r < 0:
                    slots[f, j] = i
                    group[f, i] = groups[f]
                    first_of[f, groups[f]] = i
                    groups[f] += 1
                    break
                if str_len[f, r] == n:
                    same = True
                    for k in range(n):
                        if buf[str_start[f, r] + k] != buf[s0 + k]:
                            same = False
                            break
                    if same:
                        group[f, i] = group[f, r]
                        break
                j = (j + 1) & mask
    return groups


def _first_frame_has_cameras(buf: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Episodes whose first frame's camera count (the u16 the image section starts with) is not 0; the index
    check guarantees those 2 bytes (images_length >= 2 * num_frames)."""
    frames = index["num_frames"] > 0
    at = np.where(frames, index["images_offset"].astype(np.int64), 0)
    return frames & (_u16(buf, at) > 0)


def kdb_meta_table(buf: np.ndarray, index: np.ndarray, meta_of, cameras_of) -> MetaTable:
    """``buf``: the mapped file (uint8); ``index``: its checked INDEX entries; ``meta_of(i)``: the per-episode
    parser (raises episode i's error); ``cameras_of(i)``: the camera names of episode i's first frame."""
    buf = np.asarray(buf).view(np.ndarray)  # fancy indexing on a plain view: np.memmap's own is several times slower
    n = len(index)
    start = index["meta_offset"].astype(np.int64)
    end = start + index["meta_length"].astype(np.int64)
    bad = np.zeros(n, np.bool_)
    str_start, str_len, group, first_of = (np.zeros((2, n), np.int64) for _ in range(4))
    tail = np.zeros((n, 10), np.uint8)
    slots = np.full((2, 1 << max(1, int(2 * n - 1).bit_length())), -1, np.int64)  # load factor <= 1/2
    groups = parse_meta(buf, start, end, str_start, str_len, group, first_of, tail, slots, bad)
    room = end - (str_start[1] + str_len[1])
    bad |= room < 6
    code, flag = tail[:, 4], tail[:, 5]
    bad |= ~np.isin(code, list(success_code.VALUES)) | (flag > 1)
    has_reward = (flag == 1) & ~bad
    bad |= has_reward & (room < 10)
    has_reward &= ~bad
    texts, ids = [], []
    for f in range(2):
        t, not_utf8 = _texts(buf, str_start[f], str_len[f], first_of[f, : groups[f]], group[f])
        bad |= not_utf8
        texts.append(t)
        ids.append(group[f])
    first_bad = int(np.argmax(bad)) if bad.any() else n
    images = np.flatnonzero(_first_frame_has_cameras(buf, index)[:first_bad])
    camera_names = [cameras_of(int(i)) for i in images]  # per episode: raises that episode's error first
    if first_bad < n:
        meta_of(first_bad)  # raises its error
    table = dict.fromkeys(texts[0] + texts[1])
    names = list(table)
    where = {s: k for k, s in enumerate(names)}
    cams = {}
    for i, found in zip(images.tolist(), camera_names):
        for name in found:
            cams.setdefault(name, np.zeros(n, bool))[i] = True
    floats = tail[:, :4].copy().view("<f4").reshape(-1).astype(np.float64)
    reward = np.where(has_reward, tail[:, 6:10].copy().view("<f4").reshape(-1), np.nan).astype(np.float64)
    return MetaTable(
        episode_id=index["episode_id"].astype(np.int64),
        num_frames=index["num_frames"].astype(np.int64),
        fps=floats,
        success=code.astype(np.int8),
        total_reward=reward,
        has_reward=has_reward,
        action_dim=index["action_dim"].astype(np.int64),
        state_dim=index["state_dim"].astype(np.int64),
        embodiment_id=np.array([where[s] for s in texts[0]], np.int64)[ids[0]] if n else np.zeros(0, np.int64),
        task_id=np.array([where[s] for s in texts[1]], np.int64)[ids[1]] if n else np.zeros(0, np.int64),
        strings=names,
        cameras=cams,
        attrs=attr_lookup(n, lambda i: {}),
    )
