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


def limit_branch_and_bound(solver: _Highs, max_nodes: int, relative_gap: float) -> None:
    """Cap a MIP's work deterministically: a node budget, a relative gap to stop at, and no
    sub-MIP heuristics (RINS and RENS), which otherwise dominate the time on the engine's
    small models."""
    solver.setOptionValue("mip_max_nodes", max_nodes)
    solver.setOptionValue("mip_rel_gap", relative_gap)
    solver.setOptionValue("mip_heuristic_run_rins", False)  # noqa: FBT003 - the binding takes no keywords
    solver.setOptionValue("mip_heuristic_run_rens", False)  # noqa: FBT003 - the binding takes no keywords
