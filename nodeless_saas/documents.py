"""The one way the product reads YAML and JSON that a user sent (kubeconfigs, manifests, API bodies).

A small document must not become a large one: YAML aliases may add at most ``MAX_ALIAS_NODES``
nodes in all (a "billion laughs" document is refused while it is read, before anything expands),
and recursive aliases are refused. Every document is bounded in bytes and nesting depth, holds only
what JSON can (timestamps stay strings, as the Kubernetes API server reads them; binary, sets and
non-finite numbers are refused) and no NUL character (PostgreSQL stores none). Errors say what is
wrong and where, and never repeat the document: a message built from the input could be as large
as the input's expansion.
"""

from __future__ import annotations

import json
import math
import re
from itertools import repeat
from typing import Any, cast

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_ALIAS_NODES = 1_000
# Longer messages from the YAML library are replaced by a generic one: they could quote the input.
_MAX_PROBLEM_CHARS = 80


class DocumentError(ValueError):
    """A document we refuse; the message says why and where, without quoting the document."""


def describe(value: Any, limit: int = 60) -> str:
    """A value as a message may show it: short scalars quoted, long ones cut, structures named."""
    if isinstance(value, str):
        shown = value if len(value) <= limit else value[:limit] + "…"
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- YAML -------------------------------------------------------------------------------------


class _BoundedComposer(Composer):
    """Counts what aliases would add to the document while composing it, and refuses too much."""

    def __init__(self) -> None:
        super().__init__()
        self._sizes: dict[int, int] = {}  # id(node) -> nodes in it with aliases expanded
        self._aliases = 0
        self._alias_nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        # The parser's methods, mixed in beside this class in _BoundedLoader.
        if self.check_event(AliasEvent):  # type: ignore[attr-defined]
            anchor = self.peek_event().anchor  # type: ignore[attr-defined]
            target = self.anchors.get(anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:  # the anchored node is still open: a recursive structure
                    raise DocumentError("refers to itself through an alias (a recursive structure)")
                self._aliases += 1
                self._alias_nodes += size
                if self._aliases > MAX_ALIASES or self._alias_nodes > MAX_ALIAS_NODES:
                    raise DocumentError(
                        f"uses aliases (*name) that would expand it by more than {MAX_ALIAS_NODES} "
                        f"values or {MAX_ALIASES} aliases; write the values out"
                    )
            return cast(Node, super().compose_node(parent, index))
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise DocumentError(f"is nested more than {MAX_DEPTH} levels deep")
        node = cast(Node, super().compose_node(parent, index))
        self._depth -= 1
        self._sizes[id(node)] = self._size(node)
        return node

    def _size(self, node: Node) -> int:
        if isinstance(node, ScalarNode):
            return 1
        if isinstance(node, SequenceNode):
            return 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        if isinstance(node, MappingNode):
            return 1 + sum(
                self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1) for key, value in node.value
            )
        return 1


class _JsonConstructor(SafeConstructor):
    """Only what JSON holds: the Kubernetes API server reads YAML as JSON, and so do we."""


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _timestamp(loader: Any, node: ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _float(loader: Any, node: ScalarNode) -> float:
    value = float(SafeConstructor.construct_yaml_float(loader, node))
    if not math.isfinite(value):
        raise DocumentError(f"has a number that is not finite at line {_line(node)}")
    return value


def _int(loader: Any, node: ScalarNode) -> int:
    try:
        return int(SafeConstructor.construct_yaml_int(loader, node))
    except ValueError:  # more digits than Python converts
        raise DocumentError(f"has a number too large to read at line {_line(node)}")


def _refuse(loader: Any, node: Node) -> Any:
    raise DocumentError(f"uses the YAML tag {node.tag.rsplit(':', 1)[-1]!r}, which JSON cannot hold")


for _tag in ("binary", "set", "omap", "pairs"):
    _JsonConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)
_JsonConstructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_JsonConstructor.add_constructor("tag:yaml.org,2002:float", _float)
_JsonConstructor.add_constructor("tag:yaml.org,2002:int", _int)


class _BoundedLoader(Reader, Scanner, Parser, _BoundedComposer, _JsonConstructor, Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _JsonConstructor.__init__(self)
        Resolver.__init__(self)


def _check_size(text: str, what: str, max_bytes: int) -> None:
    # Characters first: counting bytes of a huge text would already cost its size again.
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise DocumentError(f"{what} is larger than {max_bytes // 1000} kB.")


def _yaml_problem(what: str, error: yaml.YAMLError) -> DocumentError:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = str(getattr(error, "problem", None) or "")
    if not problem or len(problem) > _MAX_PROBLEM_CHARS or "\\" in problem:
        problem = "it cannot be parsed"
    return DocumentError(f"{what} is not valid YAML{where}: {problem}.")


def load_yaml_documents(text: str, *, what: str, max_bytes: int) -> list[Any]:
    """Every document of a YAML stream, as JSON values; DocumentError names what is wrong."""
    _check_size(text, what, max_bytes)
    documents: list[Any] = []
    try:
        loader = _BoundedLoader(text)  # its reader checks every character at once
        try:
            while loader.check_data():  # type: ignore[no-untyped-call]
                documents.append(loader.get_data())
        finally:
            loader.dispose()
    except DocumentError as error:
        raise DocumentError(f"{what} {error}.") from None
    except ReaderError as error:
        raise DocumentError(
            f"{what} contains the character U+{error.character:04X}, which YAML does not allow "
            f"(position {error.position + 1})."
        ) from None
    except yaml.YAMLError as error:
        raise _yaml_problem(what, error) from None
    except RecursionError:  # the library's own recursion, beyond what our depth limit sees
        raise DocumentError(f"{what} is nested too deeply.") from None
    for document in documents:
        check_value(document, what=what)
    return documents


# --- JSON -------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> float:
    raise DocumentError(f"has the number {name}, which is not finite")


def load_json(text: str, *, what: str, max_bytes: int) -> Any:
    """One JSON value, bounded like YAML documents are."""
    _check_size(text, what, max_bytes)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise DocumentError(
            f"{what} is not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}."
        ) from None
    except DocumentError as error:
        raise DocumentError(f"{what} {error}.") from None
    except RecursionError:
        raise DocumentError(f"{what} is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError:  # an integer with more digits than Python converts
        raise DocumentError(f"{what} has a number too large to read.") from None
    check_value(value, what=what)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's "\ud800" escapes: not text, not encodable


def check_value(value: Any, *, what: str) -> None:
    """Refuse a parsed value nested too deeply, holding a NUL character or a non-finite number.

    Every API body and manifest goes through here (a submission twice: the body, then its
    manifest), so the walk is one loop: a NUL is found with ``in``, and only text that is not
    ASCII can hold a surrogate."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(f"{what} is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(item, str):
            if "\x00" in item:
                raise DocumentError(f"{what} contains a NUL character (\\u0000), which cannot be stored.")
            if not item.isascii() and _SURROGATE.search(item):
                raise DocumentError(
                    f"{what} contains an unpaired surrogate (\\ud800-\\udfff), which is not text."
                )
        elif isinstance(item, dict):
            stack.extend(zip(item, repeat(depth + 1)))
            stack.extend(zip(item.values(), repeat(depth + 1)))
        elif isinstance(item, list):
            stack.extend(zip(item, repeat(depth + 1)))
        elif isinstance(item, float) and not math.isfinite(item):
            raise DocumentError(f"{what} has a number that is not finite.")
