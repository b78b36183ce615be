"""Request bodies as the API server reads them: JSON, YAML (one document), or the protobuf kubectl 1.32
and later send for the objects its ``create`` subcommands make (``protobody``); at most 3 MiB."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from nodeless_saas.documents import DocumentError, load_json, load_yaml_documents
from policies.kubeapi import errors, protobody

MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's request limit


def read(request: HttpRequest) -> Any:
    """The request's object: JSON (also with no Content-Type), YAML, or protobuf (``protobody``)."""
    if len(request.body) > MAX_BODY_BYTES:
        raise errors.KubeError(413, "RequestEntityTooLarge", "the request is larger than 3 MiB")
    text = request.body.decode("utf-8", errors="replace")
    content_type = request.content_type or "application/json"
    if (
        content_type == "text/plain"
    ):  # no Content-Type sent (WSGI's default): JSON, as the API server reads it
        content_type = "application/json"
    if content_type == protobody.CONTENT_TYPE:  # kubectl 1.32+ create configmap, secret, ...
        return protobody.decode(request.body)
    if not (content_type.endswith("json") or content_type.endswith("yaml")):
        raise errors.unsupported_media_type(content_type)  # CBOR: client-go sends JSON again
    try:
        if content_type.endswith("yaml"):
            return _yaml(text)
        return load_json(text, what="The request body", max_bytes=MAX_BODY_BYTES)
    except DocumentError as error:
        raise errors.bad_request(f"the request body could not be decoded: {error}")


def _yaml(text: str) -> Any:
    """One YAML document. client-go (so kubectl, Argo CD and Flux) sends its server-side apply
    patches as JSON, which YAML includes: decoded as JSON, that costs a two-hundredth of PyYAML's
    pure-Python parse. A flow mapping that is not JSON goes to the YAML parser."""
    if text.lstrip().startswith("{"):
        try:
            return load_json(text, what="The request body", max_bytes=MAX_BODY_BYTES)
        except DocumentError:
            pass
    documents = load_yaml_documents(text, what="The request body", max_bytes=MAX_BODY_BYTES)
    if len(documents) != 1:
        raise errors.bad_request("send exactly one YAML document")
    return documents[0]
