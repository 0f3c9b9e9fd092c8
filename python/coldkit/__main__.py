"""``python -m coldkit`` runs the ``coldkit`` command."""

import sys

from coldkit.cli import main

sys.exit(main())
