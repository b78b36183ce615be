"""CloudFormation answers in the query protocol's XML, shaped by botocore's own service model (so
boto3 reads them exactly as it reads AWS's): `<OpResponse><OpResult>…</OpResult>` with lists as
`<member>` elements."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import botocore.session
from botocore.model import Shape, StructureShape

XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


@functools.cache
def _model() -> Any:
    return botocore.session.get_session().get_service_model("cloudformation")


def _text(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(value)


def _append(parent: ElementTree.Element, shape: Shape, value: Any, name: str) -> None:
    element = ElementTree.SubElement(parent, name)
    if shape.type_name == "structure":
        _fill(element, shape, value)  # type: ignore[arg-type]
    elif shape.type_name == "list":
        member = shape.member  # type: ignore[attr-defined]
        for item in value:
            _append(element, member, item, "member")
    else:
        element.text = _text(shape, value)


def _fill(element: ElementTree.Element, shape: StructureShape, value: Mapping[str, Any]) -> None:
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            _append(element, member, value[name], name)


def query_response(operation: str, result: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A 200 answer to `operation` carrying `result` (boto3's output shape)."""
    model = _model().operation_model(operation)
    root = ElementTree.Element(f"{operation}Response", xmlns=XMLNS)
    output = model.output_shape
    if output is not None:
        wrapper = ElementTree.SubElement(
            root, output.serialization.get("resultWrapper", f"{operation}Result")
        )
        _fill(wrapper, output, result)
    metadata = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(metadata, "RequestId").text = str(uuid.uuid4())
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)
    return 200, {"Content-Type": "text/xml"}, body
