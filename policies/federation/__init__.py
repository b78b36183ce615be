"""Federation, the Django side: federation policies and federated workloads.

- ``manifests``: submitted manifests (YAML/JSON), checked field by field (``manifest_checks``).
- ``selector_text``: cluster selectors as readable text (``env=prod, cloud in (aws, gcp)``).
- ``spec``: the policy API shape ↔ stored spec ↔ the engine's PlacementPolicy, with validation.
- ``pricing`` and ``snapshots``: member clusters as the engine sees them.
- ``services`` (writes) and ``selectors`` (reads), organization first.

The loop that places workloads lives in ``workers.federation``; the engine in
``engines.federation``.
"""
