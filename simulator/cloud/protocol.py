"""Reading and writing AWS wire protocols in the gateway: which service and action a request is,
its parameters, and responses/errors in the shape each protocol's boto3 parser expects.

- query protocols (EC2, STS, IAM): form-encoded `Action=...` bodies, XML responses;
- JSON protocols (SQS, Pricing): `X-Amz-Target: <Prefix>.<Action>`, JSON bodies;
- REST-JSON (EKS): the action is the method and path.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import botocore.session
from botocore.model import Shape, StructureShape

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"

# Query-protocol error codes that AWS returns with these HTTP statuses.
EC2_ERROR_STATUS = {
    "UnauthorizedOperation": 403,
    "DryRunOperation": 412,
    "RequestLimitExceeded": 503,
    "InsufficientInstanceCapacity": 500,
}


@dataclass(frozen=True)
class AwsRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    service: str
    region: str
    access_key_id: str
    action: str
    params: Mapping[str, str]  # flat parameters (query protocols) or {} otherwise
    presigned: bool

    @property
    def json_body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        decoded = json.loads(self.body)
        return decoded if isinstance(decoded, dict) else {}


_JSON_TARGET_SERVICES = {"AWSPriceListService": "pricing", "AmazonSQS": "sqs"}


def parse_request(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> AwsRequest:
    """Identify service, region, caller key and action from the signature and body."""
    authorization = headers.get("authorization", "")
    query_params = dict(parse_qsl(query, keep_blank_values=True))
    presigned = False
    match = _CREDENTIAL.search(authorization)
    if match is None and "X-Amz-Credential" in query_params:
        match = _CREDENTIAL.search("Credential=" + query_params["X-Amz-Credential"])
        presigned = True
    access_key, region, service = (
        (match.group(1), match.group(3), match.group(4)) if match else ("", "us-east-1", "")
    )
    target = headers.get("x-amz-target", "")
    params: dict[str, str] = {}
    action = ""
    if target:
        prefix, _, action = target.partition(".")
        service = _JSON_TARGET_SERVICES.get(prefix, service)
    else:
        content_type = headers.get("content-type", "")
        if method == "POST" and "x-www-form-urlencoded" in content_type:
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        elif method == "GET":
            params = dict(query_params)
        action = params.get("Action", "")
    return AwsRequest(
        method, path, query, headers, body, service, region, access_key, action, params, presigned
    )


def nested_params(flat: Mapping[str, str], prefix: str) -> Any:
    """EC2 query parameters under `prefix` as nested dicts and lists:
    `Overrides.1.InstanceType=x` becomes `{"Overrides": [{"InstanceType": "x"}]}`."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        if key != prefix and not key.startswith(prefix + "."):
            continue
        parts = key.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(tree.get(prefix))


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def numbered_values(flat: Mapping[str, str], prefix: str) -> list[str]:
    """`InstanceType.1=a&InstanceType.2=b` -> ["a", "b"]."""
    value = nested_params(flat, prefix)
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value is not None else []


@functools.cache
def _ec2_model() -> Any:
    return botocore.session.get_session().get_service_model("ec2")


def _xml_value(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return str(value)


def _append(parent: ElementTree.Element, shape: Shape, value: Any, name: str) -> None:
    element = ElementTree.SubElement(parent, name)
    if shape.type_name == "structure":
        _fill_structure(element, shape, value)  # type: ignore[arg-type]
    elif shape.type_name == "list":
        member = shape.member  # type: ignore[attr-defined]
        for item in value:
            _append(element, member, item, member.serialization.get("name", "item"))
    else:
        element.text = _xml_value(shape, value)


def _fill_structure(element: ElementTree.Element, shape: StructureShape, value: Mapping[str, Any]) -> None:
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            _append(element, member, value[name], member.serialization.get("name", name))


def ec2_response(operation: str, result: Mapping[str, Any]) -> bytes:
    """Serialise `result` (boto3's shape, e.g. {"FleetId": ..., "Instances": [...]}) as EC2 XML."""
    shape = _ec2_model().operation_model(operation).output_shape
    root = ElementTree.Element(f"{operation}Response", xmlns=EC2_XMLNS)
    ElementTree.SubElement(root, "requestId").text = str(uuid.uuid4())
    _fill_structure(root, shape, result)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


@dataclass(frozen=True)
class AwsError(Exception):
    """An error to answer in the caller's protocol."""

    code: str
    message: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def error_body(request: AwsRequest, error: AwsError) -> tuple[int, dict[str, str], bytes]:
    request_id = str(uuid.uuid4())
    if request.service == "ec2":
        root = ElementTree.Element("Response")
        errors = ElementTree.SubElement(ElementTree.SubElement(root, "Errors"), "Error")
        ElementTree.SubElement(errors, "Code").text = error.code
        ElementTree.SubElement(errors, "Message").text = error.message
        ElementTree.SubElement(root, "RequestID").text = request_id
        status = EC2_ERROR_STATUS.get(error.code, error.status)
        return status, {"Content-Type": "text/xml"}, ElementTree.tostring(root)
    if request.service in ("sts", "iam", "cloudformation"):
        root = ElementTree.Element("ErrorResponse")
        detail = ElementTree.SubElement(root, "Error")
        ElementTree.SubElement(detail, "Type").text = "Sender"
        ElementTree.SubElement(detail, "Code").text = error.code
        ElementTree.SubElement(detail, "Message").text = error.message
        ElementTree.SubElement(root, "RequestId").text = request_id
        return error.status, {"Content-Type": "text/xml"}, ElementTree.tostring(root)
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "x-amzn-ErrorType": error.code,
        "x-amzn-RequestId": request_id,
    }
    if request.service == "sqs":
        headers["x-amzn-query-error"] = f"{error.code};Sender"
    body = {"__type": error.code, "message": error.message, "Message": error.message}
    return error.status, headers, json.dumps(body).encode()
