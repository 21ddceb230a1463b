"""A test kit for code that writes or reads .knb files. Requires hypothesis (the ``dev`` extra).

One concept per module; this face re-exports their public names:

* :mod:`.strategies`: hypothesis strategies (``file_schemas``, ``episodes``);
* :mod:`.equality`: bit-for-bit checks (``assert_episode_equal``, ``same_bits``, ``assert_same``);
* :mod:`.forge`: forged commits with valid checksums (``forge_commit``);
* :mod:`.proto`: ``tf.train.Example`` and TFRecord encoders for RLDS test sources;
* :mod:`.images`: encoded image payloads for test sources (``png``; needs Pillow);
* :mod:`.stateful`: the writer/reader state machine (``KnbMachine``).

kinonb itself never imports this package.
"""

from .equality import assert_episode_equal, assert_same, same_bits
from .forge import forge_commit
from .images import png
from .proto import encode_example, encode_feature, encode_record, field, varint_bytes
from .stateful import KnbMachine
from .strategies import FLOATS, TEXT, episodes, file_schemas

__all__ = [
    "FLOATS", "TEXT", "KnbMachine", "assert_episode_equal", "assert_same", "encode_example", "encode_feature",
    "encode_record", "episodes", "field", "file_schemas", "forge_commit", "png", "same_bits", "varint_bytes",
]
