"""CSV text with plain decimals: what every CSV simengine writes looks like to a spreadsheet."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plain_csv"]


def plain_csv(frame: pd.DataFrame, significant: int | None = None) -> str:
    """``frame`` as CSV with every float a plain decimal (``79287212.34``, never ``7.93e+07``):
    each value's shortest exact form, or rounded to ``significant`` digits (``1234570``)."""
    if significant is None:
        return frame.to_csv(index=False, float_format=_plain)
    return frame.to_csv(
        index=False,
        float_format=lambda v: np.format_float_positional(
            v, precision=significant, unique=False, fractional=False, trim="-"
        ),
    )


def _plain(value: float) -> str:
    return np.format_float_positional(value, trim="-")
