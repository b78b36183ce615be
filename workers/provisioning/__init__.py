"""The provisioning loop: one reconcile pass of a nodeless cluster (`cluster_pass`; `reconcile` runs
passes alone or in batches, each under its cluster's lease), as Karpenter's controllers are shaped:
observe → pure decisions → intents recorded → executors through ports.

- reads: what a pass reads (`observe` → the kernel's ClusterState; instances; interruption notices)
- inputs, records, pods, commands: the frozen inputs decisions read and the commands they return
- launch, bind, lifecycle, drain, disruption/*: the decisions (pure: no Django, no I/O)
- ledger (+ rows): intents recorded through clusters.services.managed_nodes and
  policies.services.decisions before anyone acts
- executors, launching (+ launch_request): acting through the ports (`ports.KubePort`, the
  CloudProvider), and the launch task's body
- context: the pass's policy, catalog and ports; kube: the real kube port; watcher: the pod watch
"""
