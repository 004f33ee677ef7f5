"""Find SQL built from strings and handed to an execution entry point (AST scan).

Flags a call to ``text``, ``execute``, ``executemany``, ``exec_driver_sql``,
``executescript``, ``read_sql`` or ``read_sql_query`` whose SQL argument is an
f-string with placeholders, a ``%`` or ``+`` expression involving a string, a
``str.format`` call, or a local name assigned from one of those. Values must go
through bound parameters or SQLAlchemy constructs instead.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

SINKS = {
    "text",
    "execute",
    "executemany",
    "exec_driver_sql",
    "executescript",
    "read_sql",
    "read_sql_query",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    sink: str
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.sink}() gets SQL built by {self.how}"


def _is_stringy(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(
        node, ast.JoinedStr
    )


def built_how(node: ast.AST, tainted: dict[str, str]) -> str | None:
    """How ``node`` builds a string from values, or None when it does not."""
    if isinstance(node, ast.JoinedStr) and any(
        isinstance(v, ast.FormattedValue) for v in node.values
    ):
        return "an f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_stringy(node.left):
        return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if _is_stringy(node.left) or _is_stringy(node.right):
            return "+ concatenation"
        inner = built_how(node.left, tainted) or built_how(node.right, tainted)
        if inner:
            return inner
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return "str.format"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and _is_stringy(node.func.value)
    ):
        return "str.join"
    if isinstance(node, ast.Name) and node.id in tainted:
        return f"{tainted[node.id]} (via {node.id!r})"
    return None


# ``text`` is only SQLAlchemy's when called bare or on the module (not MetadataValue.text).
SQL_MODULES = {"sa", "sqlalchemy", "sql", "expression"}


def _sink_name(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name == "text" and isinstance(func, ast.Attribute):
        owner = func.value
        if not (isinstance(owner, ast.Name) and owner.id in SQL_MODULES):
            return None
    return name if name in SINKS else None


def _sql_argument(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    for kw in call.keywords:
        if kw.arg in ("sql", "statement", "text", "query"):
            return kw.value
    return None


def scan_source(source: str, path: str = "<string>") -> list[Finding]:
    tree = ast.parse(source, filename=path)
    findings: list[Finding] = []
    scopes = [tree] + [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    for scope in scopes:
        tainted: dict[str, str] = {}
        body_nodes = list(ast.walk(scope)) if scope is not tree else list(ast.walk(tree))
        for node in body_nodes:
            if isinstance(node, ast.Assign):
                how = built_how(node.value, tainted)
                for target in node.targets:
                    if isinstance(target, ast.Name) and how:
                        tainted[target.id] = how
            elif (
                isinstance(node, ast.AugAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(node.op, ast.Add)
                and (_is_stringy(node.value) or built_how(node.value, tainted))
            ):
                tainted[node.target.id] = "+= concatenation"
        for node in body_nodes:
            if isinstance(node, ast.Call) and (sink := _sink_name(node)):
                arg = _sql_argument(node)
                how = built_how(arg, tainted) if arg is not None else None
                if how:
                    findings.append(Finding(path, node.lineno, sink, how))
    return sorted(set(findings), key=lambda f: (f.path, f.line))
