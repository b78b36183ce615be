"""The engines: pure decision code (no Django, no I/O), fed frozen inputs and returning values.

- `engines.kube`: the Kubernetes vocabulary every engine and app shares.
- `engines.planner`: which nodes to launch for pending pods, and where each pod goes.
- `engines.federation`: which member clusters run a federated workload, and how many replicas each.
- `engines.metering`: what an interval of a cluster cost, split over its pods and idle capacity.

`.importlinter` holds the contracts that keep them pure.
"""
