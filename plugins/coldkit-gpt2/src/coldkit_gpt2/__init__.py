"""coldkit-gpt2: GPT-2 family text encoders for coldkit (``coldkit.get_encoder("gpt2", model=...)``).

Importing this package is cheap: torch and transformers load only when an encoder is built.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
