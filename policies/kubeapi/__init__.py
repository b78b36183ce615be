"""The organization's Kubernetes API: what kubectl, client libraries, Helm, Argo CD and Flux talk to.

- ``resources``: the kinds served (group, version, plural, scope), discovery and OpenAPI (v3, v2)
  documents.
- ``errors``: ``Status`` bodies, as the Kubernetes API server writes them.
- ``patches``: JSON merge, strategic merge (by the built-in merge keys) and JSON patches.
- ``fields``: server-side apply's field ownership (``managedFields``) and its conflicts.
- ``store``: the objects (PostgreSQL, per organization), resourceVersions and the change log.
- ``federation``: Deployments and Jobs become federated workloads; status comes back from them.
- ``policies``: ``FederationPolicy`` (policy.nodeless.io) served from the federation policy rows.
- ``claims``: the phase of the claims that go with the workloads that mount them.
- ``replica_sets``: each Deployment's current ReplicaSet, computed when read.
- ``access_review``: ``kubectl auth can-i``, answered from the token's scopes.
- ``protowire``: the protobuf kubectl and client-go send and read in those two places.
- ``views``/``urls``: the HTTP endpoint under ``/k8s/``, authenticated by API tokens.
"""
