"""Differentiation of the SSA graph: reverse mode (VJP)."""
from .reverse import reverse

__all__ = ["reverse"]
