"""Simulated Kubernetes clusters and a simulated AWS cloud on loopback (see README.md).

Entry points: `runner.Simulation` (everything), `cluster.SimulatedCluster` (one cluster),
`cloud.simulated_cloud.SimulatedCloud` (moto + gateway). Importing this package needs no Django.
"""
