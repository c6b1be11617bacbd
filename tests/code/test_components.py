"""KFP runs each component's body as a standalone file: it must import every name it uses."""

import ast
import builtins
import inspect
import textwrap

import kfp.dsl
import pytest

from components.ops.baseline import baseline_op
from components.ops.evaluate import evaluate_op
from components.ops.load_data import load_data_op
from components.ops.package import keep_champion_op, package_op
from components.ops.register import register_op
from components.ops.run import close_run_op, open_run_op
from components.ops.split import split_op
from components.ops.train import train_op
from components.ops.validate import validate_op

COMPONENTS = [
    open_run_op,
    close_run_op,
    load_data_op,
    validate_op,
    split_op,
    train_op,
    evaluate_op,
    baseline_op,
    register_op,
    package_op,
    keep_champion_op,
]
# What KFP's generated module provides: `from kfp.dsl import *` and `from typing import *`.
PROVIDED = set(dir(builtins)) | set(dir(kfp.dsl)) | {"NamedTuple", "List", "Dict"}


def unbound_names(function) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    bound, used = set(PROVIDED), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.arg)):
            bound.add(node.name if isinstance(node, ast.FunctionDef) else node.arg)
        elif isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, ast.comprehension):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bound |= {n.id for n in ast.walk(node.optional_vars) if isinstance(n, ast.Name)}
    return used - bound - {"component"}


@pytest.mark.parametrize("op", COMPONENTS, ids=lambda op: op.name)
def test_component_body_imports_what_it_uses(op):
    assert unbound_names(op.python_func) == set()


def test_the_check_catches_a_module_level_name():
    def leaky(x: int) -> int:
        return helper(x)  # noqa: F821

    assert unbound_names(leaky) == {"helper"}
