"""The IR and its passes: verify catches broken graphs; fold, CSE and DCE do their job."""
import pytest

from compiler.ir import F64, Builder, Graph, Type, Value, VerifyError, verify
from compiler.ir.core import Op
from compiler.passes import cse, dce, fold


def _graph(build):
    x = Value(Type("float64", 1), "x")
    b = Builder()
    with b:
        out = build(b, x)
    return Graph("f", (x,), tuple(b.ops), (out,))


def test_verify_accepts_a_built_graph_and_prints_it():
    g = _graph(lambda b, x: b.emit("sum", b.emit("exp", x)))
    assert verify(g) is g
    assert str(g).splitlines()[0] == "{ lambda x:f64[?] ."


def test_verify_rejects_use_before_definition_and_double_definition():
    x = Value(Type("float64", 1), "x")
    y = Value(F64)
    use = Op("sum", (y,), (Value(F64),))
    with pytest.raises(VerifyError, match="before definition"):
        verify(Graph("f", (x,), (use,), (use.out,)))
    twice = Op("exp", (x,), (x,))
    with pytest.raises(VerifyError, match="defined twice"):
        verify(Graph("f", (x,), (twice,), (x,)))


def test_verify_rejects_a_wrong_type():
    x = Value(Type("float64", 1), "x")
    bad = Op("sum", (x,), (Value(Type("float64", 1)),))
    with pytest.raises(VerifyError, match="rule gives f64"):
        verify(Graph("f", (x,), (bad,), (bad.out,)))


def test_fold_removes_multiplication_by_one_and_folds_constants():
    g = fold(_graph(lambda b, x: b.emit("sum", (x * 1.0) * (2.0 * 3.0))))
    prims = [op.prim for op in dce(g).ops]
    assert prims == ["const", "mul", "sum"]
    assert [op.attr("value") for op in dce(g).ops if op.prim == "const"] == [6.0]


def test_fold_keeps_types():
    # x:i64 * 1.0 is float64: replacing it by x would change the type
    xi = Value(Type("int64", 0), "n")
    b = Builder()
    with b:
        out = xi * 1.0
    g = verify(fold(Graph("f", (xi,), tuple(b.ops), (out,))))
    assert g.results[0] is not xi


def test_cse_merges_duplicates_and_dce_drops_dead_code():
    def build(b, x):
        b.emit("log", x)  # dead
        return b.emit("sum", b.emit("exp", x) * b.emit("exp", x))
    g = dce(cse(_graph(build)))
    assert [op.prim for op in g.ops] == ["exp", "mul", "sum"]
    verify(g)
