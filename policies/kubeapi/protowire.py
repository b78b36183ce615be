"""The protobuf wire format, for where client-go speaks protobuf to the endpoint: the
OpenAPI v2 document it reads (``resources.openapi_v2_protobuf``) and the access reviews kubectl posts
(``access_review``), and the objects kubectl's ``create`` subcommands send (``protobody``). Varints,
length-delimited fields (strings, bytes, messages) and fixed-size ones are read; groups are not
(Kubernetes' messages have none)."""

from __future__ import annotations

from collections.abc import Iterator

# kube-apiserver's protobuf bodies start with this, then a runtime.Unknown message around the object.
KUBE_MAGIC = b"k8s\x00"


class WireError(ValueError):
    pass


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """One field of wire type 2 (a string, bytes or a message)."""
    return varint(field_number << 3 | 2) + varint(len(payload)) + payload


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise WireError("a varint runs past the end of the message")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Each field of a message, as (field number, wire type, value): an int for a varint, the bytes
    of a length-delimited field, the raw 4 or 8 bytes of a fixed-size one."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, at = _read_varint(data, at)
            yield number, wire_type, value
            continue
        if wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
        elif wire_type == 2:
            size, at = _read_varint(data, at)
        else:
            raise WireError(f"wire type {wire_type} is not read here")
        if at + size > len(data):
            raise WireError("a field runs past the end of the message")
        yield number, wire_type, data[at : at + size]
        at += size


def fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Each length-delimited field of a message, as (field number, payload), in order."""
    for number, wire_type, value in _fields(data):
        if wire_type == 2 and isinstance(value, bytes):
            yield number, value


def every_field(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Each field of a message, as (field number, value), in order (``_fields``)."""
    for number, _, value in _fields(data):
        yield number, value


def strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    """The string fields of a message that ``names`` names (by field number)."""
    return {names[number]: payload.decode() for number, payload in fields(data) if number in names}


def message(data: bytes, number: int) -> bytes | None:
    """The payload of a message's field ``number`` (the last, as protobuf merges repeats)."""
    found = None
    for field, payload in fields(data):
        if field == number:
            found = payload
    return found


def kube_object(body: bytes) -> tuple[dict[str, str], bytes]:
    """A kube-apiserver protobuf body: its typeMeta (apiVersion, kind) and the object's message."""
    if not body.startswith(KUBE_MAGIC):
        raise WireError("the body does not start with the Kubernetes protobuf prefix")
    unknown = body[len(KUBE_MAGIC) :]
    type_meta = strings(message(unknown, 1) or b"", {1: "apiVersion", 2: "kind"})
    return type_meta, message(unknown, 2) or b""
