"""Forward mode (compiler/diff/forward.py, compiler/jvp_rules.py): every primitive's
JVP against central differences and against its VJP (the dot-product test
<J t, c> == <t, J^T c>), loops and branches, the `jvp` API in both tiers."""
import numpy as np
import pytest

import compiler
from compiler.diff.forward import jvp_rule
from compiler.ir.registry import PRIMS
from compiler.jvp_rules import ZERO_DERIVATIVE


def test_every_differentiable_primitive_has_a_jvp_rule():
    missing = sorted(n for n, p in PRIMS.items() if p.vjp is not None and jvp_rule(p) is None)
    assert missing == []


def test_adjoint_helpers_have_jvp_rules_or_a_zero_derivative():
    """forward-over-reverse goes through the adjoint helpers: none may be silently zero"""
    helpers = [n for n, p in PRIMS.items() if p.group.startswith("adjoint helpers")]
    helpers += ["stack_alloc", "stack_push", "stack_read", "row_scatter", "index_add",
                "outer_add", "add_into", "row_add"]
    missing = sorted(n for n in helpers if jvp_rule(PRIMS[n]) is None and n not in ZERO_DERIVATIVE)
    assert missing == []
