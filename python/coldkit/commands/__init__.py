"""Sub-commands of the ``coldkit`` command line (one module each, see :mod:`coldkit.cli`)."""
