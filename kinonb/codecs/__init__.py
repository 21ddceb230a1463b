"""Camera codecs (format 1.1): JPEG per frame and compressed video, between the kernels and the readers.

``encoded``: the pre-encoded inputs a writer stores as given; ``jpeg`` and ``video``: encoding and checked
decoding (simplejpeg and PyAV, imported only when such a camera is used); ``registry``: one entry point per
direction for every camera codec; ``decode_pool``: the per-process thread pool that decodes a batch.
"""

from .encoded import EncodedJpeg, EncodedVideo

__all__ = ["EncodedJpeg", "EncodedVideo"]
