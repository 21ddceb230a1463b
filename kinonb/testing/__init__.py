"""A test kit for code that writes or reads .knb files. Requires hypothesis (the ``dev`` extra).

One concept per module; this face re-exports their public names:

* :mod:`.strategies`: hypothesis strategies (``file_schemas``, ``episodes``; 1.1: ``file_schemas_1_1``,
  ``episodes_1_1``);
* :mod:`.equality`: bit-for-bit checks (``assert_episode_equal``, ``same_bits``, ``assert_same``) and the
  model's file-wide rules (``stored_dtypes``, ``file_keys``, ``episode_length``);
* :mod:`.forge`: forged commits with valid checksums (``forge_commit``);
* :mod:`.proto`: ``tf.train.Example`` and TFRecord encoders for RLDS test sources;
* :mod:`.images`: encoded image payloads for test sources (``png``; needs Pillow);
* :mod:`.stateful`: the writer/reader state machines (``KnbMachine``; 1.1: ``Knb11Machine``).

kinonb itself never imports this package.
"""

from .equality import (
    assert_episode_equal,
    assert_same,
    episode_length,
    file_keys,
    same_bits,
    stored_dtypes,
)
from .forge import forge_commit
from .images import png
from .proto import encode_example, encode_feature, encode_record, field, varint_bytes
from .stateful import Knb11Machine, KnbMachine
from .strategies import (
    FLOATS,
    TEXT,
    episodes,
    episodes_1_1,
    file_schemas,
    file_schemas_1_1,
)

__all__ = [
    "FLOATS", "TEXT", "Knb11Machine", "KnbMachine", "assert_episode_equal", "assert_same", "encode_example",
    "encode_feature", "encode_record", "episode_length", "episodes", "episodes_1_1", "field", "file_keys",
    "file_schemas", "file_schemas_1_1", "forge_commit", "png", "same_bits", "stored_dtypes", "varint_bytes",
]
