"""What the benchmarks' charts share: a drawn matplotlib figure as PNG bytes (written atomically by the caller)."""

from __future__ import annotations

import io
from typing import Any


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """``fig`` as PNG bytes at ``dpi``; the figure is closed (a benchmark draws many, pyplot keeps them open)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()
