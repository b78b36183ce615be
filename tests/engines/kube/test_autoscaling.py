"""HorizontalPodAutoscalers between autoscaling/v1 and v2, as kube-apiserver converts them: v1's one
CPU target, everything else carried through v1 in the round-trip annotations."""

from __future__ import annotations

import json
import re

import pytest

from engines.kube import autoscaling

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def _v2() -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop", "annotations": {"team": "checkout"}},
        "spec": {
            "scaleTargetRef": REF,
            "minReplicas": 2,
            "maxReplicas": 9,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "requests_per_second"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                },
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}},
                        "target": {"type": "Value", "value": "30"},
                    },
                },
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
                },
                "scaleDown": {
                    "selectPolicy": "Min",
                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
                },
            },
        },
        "status": {
            "observedGeneration": 3,
            "currentReplicas": 4,
            "desiredReplicas": 5,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": 82, "averageValue": "410m"},
                    },
                }
            ],
            "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}],
        },
    }


def test_v1_shows_the_cpu_target_and_carries_the_rest_in_annotations() -> None:
    v1 = autoscaling.to_v1(_v2())
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {
        "scaleTargetRef": REF,
        "minReplicas": 2,
        "maxReplicas": 9,
        "targetCPUUtilizationPercentage": 70,
    }
    assert v1["status"] == {
        "observedGeneration": 3,
        "currentReplicas": 4,
        "desiredReplicas": 5,
        "currentCPUUtilizationPercentage": 82,
    }
    annotations = v1["metadata"]["annotations"]
    assert annotations["team"] == "checkout"
    assert json.loads(annotations[autoscaling.METRICS_ANNOTATION]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
        {"type": "Pods", "pods": {"metricName": "requests_per_second", "targetAverageValue": "10"}},
        {
            "type": "External",
            "external": {
                "metricName": "queue_depth",
                "metricSelector": {"matchLabels": {"queue": "jobs"}},
                "targetValue": "30",
            },
        },
    ]
    assert json.loads(annotations[autoscaling.CURRENT_METRICS_ANNOTATION]) == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "currentAverageUtilization": 82, "currentAverageValue": "410m"},
        }
    ]
    # The behavior as kube-apiserver writes it: its internal type's Go field names, nulls included.
    assert json.loads(annotations[autoscaling.BEHAVIOR_ANNOTATION]) == {
        "ScaleUp": {
            "StabilizationWindowSeconds": 0,
            "SelectPolicy": "Max",
            "Policies": [{"Type": "Pods", "Value": 4, "PeriodSeconds": 15}],
        },
        "ScaleDown": {
            "StabilizationWindowSeconds": None,
            "SelectPolicy": "Min",
            "Policies": [{"Type": "Percent", "Value": 10, "PeriodSeconds": 60}],
        },
    }


def test_v1_written_back_is_the_v2_object_with_the_cpu_metric_last() -> None:
    original = _v2()
    back = autoscaling.to_v2(autoscaling.to_v1(original))
    assert back["apiVersion"] == "autoscaling/v2"
    assert back["metadata"] == original["metadata"]  # the round-trip annotations are taken out
    metrics = original["spec"]["metrics"]
    # kube-apiserver puts the annotation's metrics first, then the CPU target.
    assert back["spec"]["metrics"] == [*metrics[1:], metrics[0]]
    assert back["spec"]["behavior"] == {
        "scaleUp": original["spec"]["behavior"]["scaleUp"],
        "scaleDown": original["spec"]["behavior"]["scaleDown"],
    }
    assert back["status"] == original["status"]


def test_a_plain_v1_object_converts_to_one_cpu_metric_and_back() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 4, "targetCPUUtilizationPercentage": 50},
    }
    v2 = autoscaling.to_v2(v1)
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
        }
    ]
    assert "annotations" not in v2["metadata"]
    assert autoscaling.to_v1(v2) == v1


def test_an_apply_configuration_converts_only_what_it_has() -> None:
    config = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}}
    assert autoscaling.to_v2(config) == {**config, "apiVersion": "autoscaling/v2"}
    partial = autoscaling.to_v2({**config, "spec": {"maxReplicas": 5}})
    # No CPU target: no metric (the v2 defaults give 80 % once it is stored, as for any v2 object).
    assert partial["spec"] == {"maxReplicas": 5}


def test_the_behavior_annotation_is_read_as_go_reads_json() -> None:
    written = '{"scaleup":{"selectPolicy":"Disabled","policies":null},"ScaleDown":null}'
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {autoscaling.BEHAVIOR_ANNOTATION: written}},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 4},
    }
    assert autoscaling.to_v2(v1)["spec"]["behavior"] == {"scaleUp": {"selectPolicy": "Disabled"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spec": {"maxReplicas": 3, "metrics": []}}, "spec.metrics: unknown field in an autoscaling/v1"),
        (
            {"metadata": {"name": "web", "annotations": {autoscaling.METRICS_ANNOTATION: "[{"}}},
            f"metadata.annotations[{autoscaling.METRICS_ANNOTATION}]: not JSON",
        ),
        (
            {"metadata": {"name": "web", "annotations": {autoscaling.CONDITIONS_ANNOTATION: '{"a": 1}'}}},
            "not a JSON list of objects",
        ),
        (
            {"metadata": {"name": "web", "annotations": {autoscaling.BEHAVIOR_ANNOTATION: "[]"}}},
            "not a JSON object",
        ),
    ],
)
def test_what_cannot_be_converted_says_which_field(change: dict, message: str) -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}}
    with pytest.raises(autoscaling.ConversionError, match=re.escape(message)):
        autoscaling.to_v2({**v1, **change})


@pytest.mark.parametrize(
    "metric",
    [
        {
            "type": "Object",
            "object": {
                "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                "metric": {"name": "hits"},
                "target": {"type": "Value", "value": "2k"},
            },
        },
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "container": "app",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        },
        {
            "type": "External",
            "external": {"metric": {"name": "lag"}, "target": {"type": "AverageValue", "averageValue": "5"}},
        },
    ],
)
def test_each_metric_source_survives_v1(metric: dict) -> None:
    assert autoscaling.metric_v1_to_v2(autoscaling.metric_v2_to_v1(metric)) == metric
