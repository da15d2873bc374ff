"""Replace values in ops (a helper for passes, not a pass)."""
from ..ir.walk import substitute

__all__ = ["substitute"]
