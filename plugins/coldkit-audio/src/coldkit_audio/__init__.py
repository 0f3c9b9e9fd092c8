"""coldkit-audio: audio encoders for coldkit (``coldkit.get_encoder("audio")``, ``get_encoder("clap", model=...)``).

Importing this package is cheap: numpy/scipy/soundfile load when an encoder is built, torch and
transformers only for the ``clap`` encoder.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
