from tests.fixtures.simulation import (  # noqa: F401 - pytest finds fixtures by name
    _shared_cloud,
    cloud_provider,
    control_plane_session,
    kube_client,
    manual_clock,
    simulated_cloud,
    simulated_cluster,
)
