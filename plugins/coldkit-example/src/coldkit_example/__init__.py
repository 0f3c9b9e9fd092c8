"""coldkit-example: a minimal coldkit plugin (CombMNZ fusion)."""

from coldkit_example.plugin import CombMNZFusion

__all__ = ["CombMNZFusion"]
