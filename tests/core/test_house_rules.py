"""House rules checked on the source (DESIGN "The house", §3): every status column changes only through its own
transition table, so nothing outside a `transitions.py` module (and the state-machine base, `core/states.py`)
assigns a `status` attribute, calls `setattr(…, "status", …)` or bulk-updates `.values(status=…)`.

Creating a row in its initial status (`Payment(status=…)`) is allowed. A `setattr` whose name is not written in the
code cannot be checked here; the services that have one set fields from an explicit list of form fields."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "wxbackend"
STATE_MODULE_NAME = "transitions.py"
STATE_MACHINE_BASE = PACKAGE / "core" / "states.py"
# `DomainError.status` is the HTTP status of an error response, not a status column.
NOT_A_STATUS_COLUMN = {("wxbackend/core/errors.py", "self.status")}


def _targets(node: ast.expr):
    if isinstance(node, ast.Tuple | ast.List):
        for element in node.elts:
            yield from _targets(element)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)
    else:
        yield node


def status_assignments(source: str) -> list[tuple[int, str]]:
    """(line, code) of every status change written in `source`: an assignment (plain, augmented or annotated,
    tuples included) to an attribute named `status`, `setattr(…, "status", …)`, or `.values(status=…)` /
    `.values({"status": …})`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in _targets(target)]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = list(_targets(node.target))
        else:
            targets = []
        found += [(node.lineno, ast.unparse(t)) for t in targets if isinstance(t, ast.Attribute) and t.attr == "status"]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and node.args[1].value == "status"):
            found.append((node.lineno, ast.unparse(node)))
        if isinstance(func, ast.Attribute) and func.attr == "values":
            named = any(keyword.arg == "status" for keyword in node.keywords)
            in_dict = any(isinstance(arg, ast.Dict) and any(isinstance(key, ast.Constant) and key.value == "status"
                                                            for key in arg.keys) for arg in node.args)
            if named or in_dict:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_checker_sees_every_way_of_writing_a_status_change():
    source = "\n".join([
        "order.status = 'paid'",
        "payment.status, payment.paid_at = 'paid', now",
        "line.status: str = 'new'",
        "counter.status += 1",
        "setattr(invoice, 'status', 'issued')",
        "sa.update(Certificate).values(status='expired')",
        "sa.update(CertApp).values({'status': 'expired'})",
        "Payment(status='pending')",  # creation: allowed
        "status = order.status",  # reading: allowed
        "setattr(user, field, value)",  # a name the code does not write: not checkable
    ])
    assert [line for line, _ in status_assignments(source)] == [1, 2, 3, 4, 5, 6, 7]


def test_statuses_are_assigned_only_in_transition_modules():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == STATE_MODULE_NAME or path == STATE_MACHINE_BASE:
            continue
        relative = path.relative_to(ROOT).as_posix()
        for line, code in status_assignments(path.read_text(encoding="utf-8")):
            if (relative, code) not in NOT_A_STATUS_COLUMN:
                offenders.append(f"{relative}:{line}: {code}")
    assert offenders == [], "statuses change only through a transitions module:\n" + "\n".join(offenders)
