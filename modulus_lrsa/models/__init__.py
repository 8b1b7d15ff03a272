"""Neural operator models. ``LRSA`` is registered with the Modulus model registry."""

from .lrsa import LRSA, LRSABlock, MetaData

__all__ = ["LRSA", "LRSABlock", "MetaData"]
