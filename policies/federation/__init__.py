"""Federation, the Django side: federation policies, federated workloads, their placements and
decisions.

- ``manifests``: submitted manifests (YAML/JSON), checked field by field (``manifest_checks``).
- ``selector_text``: cluster selectors as readable text (``env=prod, cloud in (aws, gcp)``).
- ``spec``: the policy API shape ↔ stored spec ↔ the engine's PlacementPolicy, with validation.
- ``pricing`` and ``snapshots``: member clusters as the engine sees them; ``inputs``: the
  engine's inputs built from rows (the loop and the preview build them alike), with
  ``failover`` (which clusters to avoid, whether replicas stay put).
- Tenant services: ``services`` (writes, organization first, actor keyword, audited) and
  ``selectors`` (reads, organization first).
- System services of the federation loop (no person acts, nothing audited): ``placements``
  (the rows of one pass, loaded by organization id; placements and their writes), ``decisions``
  (Decision rows) and ``status`` (placements and workloads from what members report, in the
  shapes of ``observation``).

The loop that places workloads lives in ``workers.federation`` and changes rows only through the
system services; the engine lives in ``engines.federation``.
"""
