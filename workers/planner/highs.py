"""A quiet HiGHS solver.

The engine uses the private `_Highs` class because the public `highspy.Highs` prints a banner
to stdout when it is constructed (ERGO-Code/HiGHS #1932), and the engine must do no I/O; the
output flag is cleared before the solver does anything else.
"""

from __future__ import annotations

from highspy._core import _Highs


def quiet_solver() -> _Highs:
    solver = _Highs()
    solver.setOptionValue("output_flag", False)  # noqa: FBT003 - the binding takes no keywords
    return solver
