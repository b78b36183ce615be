"""One observation of each cluster, that the provisioning pass, metering, the health check and the
previews all read.

- `reading.read_cluster(cluster)`: the cluster now, for a worker step (fed by `informers`: watches,
  not a list of every pod on every read);
- `recording.observation_record(cluster, state)`: what is kept of it (`ClusterObservation`), so pages
  and previews never call a customer's cluster from a web request and can say how old their view is;
- `summary`: the kept form, and how a preview gets the pods back from it.
"""
