"""The PySide6 window over `lookalike.core`."""
