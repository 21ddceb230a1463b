"""cameras.py: the JPEG header reader (sizes checked before use) and the transcode choices."""

import io

import numpy as np
import pytest

from kinonb.errors import InvalidArgumentError
from kinonb.interop.ingest.cameras import check_transcode, jpeg_size

Image = pytest.importorskip("PIL.Image")


def jpeg(h, w, mode="RGB"):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3 if mode == "RGB" else 1)[: 3 if mode == "RGB" else 2], np.uint8)
                    .squeeze(), mode).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("h,w,mode,c", [(64, 48, "RGB", 3), (7, 300, "L", 1)])
def test_jpeg_size_reads_the_frame_header(h, w, mode, c):
    assert jpeg_size(jpeg(h, w, mode)) == (h, w, c)


@pytest.mark.parametrize("cut", [2, 5, 20])
def test_jpeg_size_refuses_truncated_headers(cut):
    with pytest.raises(ValueError):
        jpeg_size(jpeg(8, 8)[:cut])


def test_jpeg_size_refuses_other_bytes_and_long_segments():
    with pytest.raises(ValueError, match="start-of-image"):
        jpeg_size(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="runs past the end"):
        jpeg_size(b"\xff\xd8\xff\xe0\xff\xff" + b"\0" * 10)


def test_check_transcode():
    assert check_transcode(None, "lz4") == "lz4"
    assert [check_transcode(t, None) for t in ("jpeg", "lz4", "raw")] == ["jpeg", "lz4", None]
    with pytest.raises(InvalidArgumentError, match="transcode"):
        check_transcode("png", None)
