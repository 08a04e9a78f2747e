"""Everything that works without Qt: catalogue, scanning, imaging, models, vectors,
indexing and search. Nothing in this package may import PySide6."""
