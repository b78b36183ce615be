"""The trace loader: rows become replay pods; pods that never ran are counted, not dropped."""

from __future__ import annotations

from pathlib import Path

from lab.replay.loader import load_alibaba_trace

HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"


def test_rows_become_pods_and_pods_deleted_when_created_are_counted(tmp_path: Path):
    trace = tmp_path / "pods.csv"
    trace.write_text(
        "\n".join(
            [
                HEADER,
                "ran,4000,8192,1,1000,T4,LS,Running,100,700,101",
                "instant,1000,1024,0,0,,BE,Failed,50,50,",
            ]
        )
        + "\n"
    )
    loaded = load_alibaba_trace(trace)
    assert loaded.rows == 2
    assert loaded.never_ran == ("instant",)
    (pod,) = loaded.pods
    assert (pod.uid, pod.arrival, pod.departure) == ("ran", 100, 700)
    assert pod.request.requests.gpus == 1
    assert "T4" in pod.request.gpu_models
