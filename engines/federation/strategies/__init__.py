"""Select and divide, one module per family of strategies. Each takes ``Candidates`` and an
``AssignmentMode`` and returns an ``Allocation``."""
