"""The Alibaba GPU trace reader: pods as the planner and the replays see them."""

from __future__ import annotations

from engines.kube import labels as wk
from lab.traces.alibaba import (
    GPU_SPEC_TO_AWS_MODELS,
    TracePod,
    alive_at,
    busiest_moment,
    read_alibaba_pods,
    trace_pod_request,
)


def test_busiest_moment_has_the_most_pods_alive():
    pods = read_alibaba_pods()
    peak = busiest_moment(pods)
    alive = len(alive_at(pods, peak))
    samples = sorted({p.creation_time for p in pods})[::40]
    assert all(len(alive_at(pods, moment)) <= alive for moment in samples)


def _trace_pod(**fields: object) -> TracePod:
    base = dict(
        name="p",
        cpu_milli=1000,
        memory_mib=1024,
        num_gpu=0,
        gpu_milli=0,
        gpu_spec=(),
        qos="LS",
        phase="Running",
        creation_time=0,
        deletion_time=None,
        scheduled_time=None,
    )
    base.update(fields)
    return TracePod(**base)  # type: ignore[arg-type]


def test_a_gpu_share_stays_a_share_and_whole_gpus_stay_whole():
    shared = trace_pod_request(_trace_pod(num_gpu=1, gpu_milli=460))
    assert shared.gpu_share_milli == 460 and shared.requests.gpus == 0
    whole = trace_pod_request(_trace_pod(num_gpu=8, gpu_milli=1000))
    assert whole.requests.gpus == 8 and whole.gpu_share_milli == 0
    cpu_only = trace_pod_request(_trace_pod())
    assert not cpu_only.wants_gpu and not cpu_only.gpu_models


def test_trace_gpu_models_map_to_aws_models_the_catalog_sells(aws_catalog):
    sold = {t.gpu_model for t in aws_catalog.instance_types if t.gpus}
    for spec, models in GPU_SPEC_TO_AWS_MODELS.items():
        assert models & sold, f"{spec} maps to no GPU sold in us-east-1"
    v100 = trace_pod_request(_trace_pod(num_gpu=1, gpu_milli=1000, gpu_spec=("V100M16", "V100M32")))
    assert v100.gpu_models == frozenset({"V100"})
    assert v100.node_selector == {wk.ARCH: "amd64"}
