"""kinonb.torch: PyTorch datasets over .knb files (and kinodb .kdb files for whole episodes).

A thin layer: the batched reader (``db.sample_index(...).read``) does the data work; these classes pick sample
ids (samplers, (seed, epoch) orders, rank and worker splits, mixtures) and hand the batches to torch.
kinodb's names and arguments are kept: ``KinoDataset`` / ``KinoMapDataset``, ``KinoIterDataset``,
``from_mixture``. See docs/torch.md.
"""

from .collate import pad_collate
from .iter_dataset import KinoIterDataset
from .loader import Loader
from .map_dataset import KinoDataset, KinoMapDataset
from .mixture import MixtureDataset, from_mixture

__all__ = ["KinoDataset", "KinoMapDataset", "KinoIterDataset", "from_mixture", "MixtureDataset", "pad_collate", "Loader"]
