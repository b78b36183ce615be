"""Offerings merged into LP columns are numbered as `np.unique(axis=0)` numbers their keys, so the
LP's columns keep their order (and HiGHS its answer) whichever way the groups are found."""

from __future__ import annotations

import numpy as np
import pytest

from engines.planner.engine import _row_groups


@pytest.mark.parametrize("seed", range(5))
def test_row_groups_rank_rows_as_np_unique_does(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 400))
    keys = rng.integers(-4, 5, size=(rows, int(rng.integers(1, 4)))).astype(np.int64)
    keys[rows // 2 :] = keys[: rows - rows // 2]  # repeated rows

    _, expected = np.unique(keys, axis=0, return_inverse=True)

    groups = _row_groups(keys)
    assert groups.tolist() == expected.ravel().tolist()
    assert len(set(groups.tolist())) < rows
