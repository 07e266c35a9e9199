"""Reading a SavedModel's graph without running it: every op must be one a model may use.

A SavedModel is a program: loading it runs its initialisers and calling its
serving signature runs whatever ops its functions hold, ``WriteFile`` and
``PyFunc`` as readily as ``Conv2D``. Before anything loads one,
``check_saved_model_ops`` parses ``saved_model.pb`` as protocol buffers (no
TensorFlow graph is built, nothing runs) and walks every unit that can run:
the top-level graph's nodes (a TF1 model such as MegaDetector v4.1 keeps its
whole graph there) and the library's functions, following the calls a node
makes (its op naming a library function, or a function-valued attribute such
as ``f``, ``then_branch``, ``else_branch``, ``cond``, ``body``, ``branches``).

Every op of every unit must be in graph_ops.ALLOWED_OPS. The saver's ops are
the one exception, and only in units that nothing but the saver reaches: SAVE_OPS
in what the saver_def's save tensor runs, RESTORE_OPS in what its restore op
runs. A unit that the serving signature, any other signature, an init op (a
collection's node), the object graph or a stray root also reaches holds
nothing but allowed ops, so a model cannot hide a ``SaveV2`` to a path of its
choosing behind its serving function or an init op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..exceptions import ClassifierError
from .graph_ops import ALLOWED_OPS, RESTORE_OPS, SAVE_OPS

SERVING = "serving_default"

Unit = tuple[str, str]  # ("node", name) in the top-level graph or ("function", name)


def _functions_in(attr) -> Iterator[str]:
    """Names of the functions an AttrValue names (``func``, ``list.func``, nested attrs)."""
    kind = attr.WhichOneof("value")
    funcs = [attr.func] if kind == "func" else list(attr.list.func) if kind == "list" else []
    for func in funcs:
        yield func.name
        for nested in func.attr.values():
            yield from _functions_in(nested)


def _node_name(tensor: str) -> str:
    """``"^name"``, ``"name:0"`` or ``"name:out:0"`` → ``"name"``."""
    return tensor.lstrip("^").split(":")[0]


class _Graph:
    """One MetaGraphDef as units (top-level nodes, library functions) and their edges."""

    def __init__(self, meta_graph):
        graph = meta_graph.graph_def
        self.meta_graph = meta_graph
        self.nodes = {node.name: node for node in graph.node}
        self.functions = {f.signature.name: f for f in graph.library.function}

    def calls(self, node_def) -> Iterator[Unit]:
        if node_def.op in self.functions:
            yield ("function", node_def.op)
        for attr in node_def.attr.values():
            for name in _functions_in(attr):
                if name not in self.functions:
                    raise ClassifierError(f"The SavedModel's node {node_def.name!r} calls "
                                          f"function {name!r}, which its library lacks.")
                yield ("function", name)

    def edges(self, unit: Unit) -> Iterator[Unit]:
        kind, name = unit
        if kind == "function":
            for node_def in self.functions[name].node_def:
                yield from self.calls(node_def)
            return
        node = self.nodes[name]
        for tensor in node.input:  # what a session must run before this node
            if _node_name(tensor) in self.nodes:
                yield ("node", _node_name(tensor))
        yield from self.calls(node)

    def ops(self, unit: Unit) -> Iterator[tuple[str, str]]:
        """(op, node name) of the unit's nodes that are ops, not calls of library functions."""
        kind, name = unit
        node_defs = self.functions[name].node_def if kind == "function" else [self.nodes[name]]
        for node_def in node_defs:
            if node_def.op not in self.functions:
                yield node_def.op, node_def.name

    def units(self) -> list[Unit]:
        return [("node", n) for n in self.nodes] + [("function", f) for f in self.functions]

    def reach(self, roots: Iterable[Unit]) -> set[Unit]:
        seen: set[Unit] = set()
        todo = [root for root in roots if self._exists(root)]
        while todo:
            unit = todo.pop()
            if unit in seen:
                continue
            seen.add(unit)
            todo.extend(u for u in self.edges(unit) if u not in seen)
        return seen

    def _exists(self, unit: Unit) -> bool:
        kind, name = unit
        return name in (self.functions if kind == "function" else self.nodes)

    def node_roots(self, tensors: Iterable[str]) -> list[Unit]:
        return [("node", _node_name(t)) for t in tensors if t]

    def loader_roots(self) -> list[Unit]:
        """What loading or serving may run besides the saver: signatures, init ops, functions."""
        meta = self.meta_graph
        tensors = [t.name for sig in meta.signature_def.values()
                   for t in [*sig.inputs.values(), *sig.outputs.values()]]
        for collection in meta.collection_def.values():
            tensors.extend(collection.node_list.value)
        roots = self.node_roots(tensors)
        # TF2: the object graph names the functions the loader restores (resource
        # initialisers among them, which run at load).
        roots.extend(("function", name) for name in meta.object_graph_def.concrete_functions)
        return roots


def _serving_roots(graph: _Graph) -> list[Unit]:
    signature = graph.meta_graph.signature_def.get(SERVING)
    if signature is None:
        names = ", ".join(sorted(graph.meta_graph.signature_def)) or "none"
        raise ClassifierError(f"The SavedModel has no {SERVING!r} signature (it has: {names}); "
                              "export it with a serving signature.")
    return graph.node_roots(t.name for t in signature.outputs.values())


def _where(unit: Unit, node: str, serving: set[Unit]) -> str:
    kind, name = unit
    place = f"function {name}" if kind == "function" else f"node {node!r}"
    return f"{place}{', which the serving signature runs' if unit in serving else ''}"


def check_graph(meta_graph) -> None:
    """Refuse a MetaGraphDef holding an op outside the allow-list (see the module docstring).

    Raises ClassifierError naming the first such op and where it is.
    """
    graph = _Graph(meta_graph)
    serving = graph.reach(_serving_roots(graph))
    saver = meta_graph.saver_def
    save = graph.reach(graph.node_roots([saver.save_tensor_name]))
    restore = graph.reach(graph.node_roots([saver.restore_op_name]))
    strays = [u for u in graph.units() if u not in save and u not in restore]
    general = graph.reach([*graph.loader_roots(), *strays]) | serving
    # The serving signature's units first: its refusals are the ones most worth naming.
    for unit in sorted(graph.units(), key=lambda u: (u not in serving, u)):
        for op, node in graph.ops(unit):
            if op in ALLOWED_OPS:
                continue
            if op in SAVE_OPS and unit in save and unit not in general and unit not in restore:
                continue
            if op in RESTORE_OPS and unit in restore and unit not in general:
                continue
            why = ("it belongs to TensorFlow's saver, not to a model's own functions"
                   if op in SAVE_OPS | RESTORE_OPS else
                   "a model may only compute on tensors: no files, processes, network, "
                   "Python functions, queues or readers")
            raise ClassifierError(f"The SavedModel uses the operation {op} (in "
                                  f"{_where(unit, node, serving)}); {why}. Export the model "
                                  "without it.")


def check_saved_model_ops(pb_path: str) -> None:
    """Parse ``saved_model.pb`` (without running it) and check every meta graph's ops.

    Raises ClassifierError when the file is not a SavedModel protocol buffer,
    has no serving signature, or uses an op a model may not use.
    """
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        with open(pb_path, "rb") as fh:
            saved.ParseFromString(fh.read())
    except DecodeError as exc:
        raise ClassifierError(f"saved_model.pb is not a SavedModel ({exc}).") from exc
    if not saved.meta_graphs:
        raise ClassifierError("saved_model.pb holds no graph.")
    for meta_graph in saved.meta_graphs:
        check_graph(meta_graph)
