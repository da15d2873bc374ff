"""The graph view and the IR interpreter: the lecture's forward values f_i and backward
values g_i = d loss / d f_i on each node, golden DOT files, SVG/PNG through Graphviz."""
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from compiler.graphview import GraphView, GraphvizNotFound, format_value, graph_view
from compiler.interp import EvaluationError, evaluate, forward_backward
from compiler.ir.printer import unique_names
from models import composition, four_layer, hinge, squared, two_layer

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
LECTURE = (np.array([3.0, 1.0]), np.array([1.0, 2.0]), 2.0)  # w, phi(x), y
TWO_LAYER = (np.array([1.0, 2.0]), 1.0, np.array([[0.5, -1.0], [1.0, 0.5], [-0.5, 1.0]]),
             np.array([1.0, -1.0, 0.5]))  # x, y, V, w
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` is not installed (apt-get install graphviz)")


def _dot_line(dot, node):
    lines = [ln for ln in dot.splitlines() if ln.strip().startswith(f'"{node}" [')]
    assert len(lines) == 1, dot
    return lines[0]


# ---- the lecture's numbers -----------------------------------------------------------
def test_squared_loss_nodes_carry_the_lectures_forward_and_backward_values():
    # Loss = (w . phi(x) - y)^2, w = [3, 1], phi(x) = [1, 2], y = 2: w . phi = 5,
    # residual 3, loss 9; backward: g_loss = 1, g_residual = 2 * 3 = 6, g_w = 6 phi = [6, 12]
    v = graph_view(squared, *LECTURE, wrt="w")
    expect = {"w": ("[3, 1]", "[6, 12]"), "phi": ("[1, 2]", None), "y": ("2", None),
              "t1": ("5", "6"), "t2": ("3", "6"), "loss": ("9", "1")}
    assert {n.id: (n.f, n.g) for n in v.nodes} == expect
    assert v.node("t1").expr == "w @ phi" and v.node("t2").expr == "t1 - y"
    assert v.node("loss").expr == "t2 ** 2.0"  # the constant is written into its user (a
    # float: a float to a constant power is computed by pow() in both tiers, as NumPy does)
    assert v.node("w").kind == "wrt" and v.node("phi").kind == "param"
    assert v.node("w").type == "f64[2]" and v.node("loss").type == "f64"
    dot = v.dot
    assert "f = 3" in _dot_line(dot, "t2") and "g = 6" in _dot_line(dot, "t2")
    assert "f = [3, 1]" in _dot_line(dot, "w") and "g = [6, 12]" in _dot_line(dot, "w")
    assert "penwidth" in _dot_line(dot, "w")  # wrt highlighted
    assert "peripheries=2" in _dot_line(dot, "loss")  # the root
    # edges from the inputs towards the loss, as in the lecture
    for edge in ('"w" -> "t1"', '"phi" -> "t1"', '"t1" -> "t2"', '"y" -> "t2"', '"t2" -> "loss"'):
        assert edge in dot
    # the ops of one user line are boxed together under that line
    assert 'label="models.py:9: return (w @ phi - y) ** 2"' in dot


def test_composition_backward_values_are_2b_and_4a_cubed():
    # b = a^2, c = b^2 at a = 2: b = 4, c = 16; g_b = 2b = 8, g_a = (2b)(2a) = 4a^3 = 32
    v = graph_view(composition, 2.0)
    assert {n.id: (n.f, n.g) for n in v.nodes} == {"a": ("2", "32"), "b": ("4", "8"),
                                                  "c": ("16", "1")}
    assert set(v.groups) == {"models.py:14: b = a ** 2", "models.py:15: c = b ** 2"}


@pytest.mark.parametrize("w,y,expected", [([0.1, -0.2, 0.3], 1.0, [-1.0, -2.0, -1.0]),
                                          ([2.0, 1.0, 1.0], 1.0, [0.0, 0.0, 0.0])])
def test_hinge_backward_value_is_minus_phi_y_inside_the_margin_else_zero(w, y, expected):
    phi = np.array([1.0, 2.0, 1.0])
    f, g = _fb(hinge, "w", np.array(w), phi, y)
    np.testing.assert_array_equal(g["w"], expected)
    np.testing.assert_array_equal(g["loss"], 1.0)


def _fb(fn, wrt, *args):
    gf = grad(fn, wrt=wrt, jit=False)
    spec = gf.specialize(*args)
    f, g = forward_backward(spec.primal, gf.normalize(args)[0], gf.wrt)
    names = unique_names(spec.primal)
    return {names[v]: x for v, x in f.items()}, {names[v]: x for v, x in g.items()}


def test_two_layer_backward_values_equal_the_lectures_closed_forms():
    x, y, V, w = TWO_LAYER
    f, g = _fb(two_layer, ("V", "w"), *TWO_LAYER)
    h = 1 / (1 + np.exp(-V @ x))
    residual = w @ h - y
    np.testing.assert_allclose(f["h"], h, rtol=1e-15)
    np.testing.assert_allclose(f["t3"], residual, rtol=1e-15)
    np.testing.assert_allclose(g["t3"], 2 * residual, rtol=1e-15)          # g_residual
    np.testing.assert_allclose(g["h"], 2 * residual * w, rtol=1e-15)
    np.testing.assert_allclose(g["w"], 2 * residual * h, rtol=1e-14)       # lecture: 2 r h
    np.testing.assert_allclose(g["V"], 2 * residual * np.outer(w * h * (1 - h), x), rtol=1e-14)
    assert "x" not in g and "y" not in g  # not differentiated: no backward value


def test_interpreting_the_adjoint_graph_gives_exactly_the_generated_codes_results():
    rng = np.random.default_rng(3)
    args = (rng.normal(size=3), 0.4, rng.normal(size=(4, 3)), rng.normal(size=(4, 4)),
            rng.normal(size=(4, 4)), rng.normal(size=4))
    gf = grad(four_layer, wrt=("V1", "V2", "V3", "w"), jit=False)
    expected = gf(*args)
    env = evaluate(gf.specialize(*args).graph, gf.normalize(args)[0])
    got = [env[r] for r in gf.ir.results[1:]]
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_a_numpy_error_while_evaluating_names_the_user_line():
    with pytest.raises(EvaluationError) as e:
        graph_view(squared, np.ones(3), np.ones(2), 1.0)
    msg = str(e.value)
    assert "models.py:9:" in msg and "matmul" in msg and "(3,), (2,)" in msg and "^" in msg


# ---- formatting and output formats -----------------------------------------------------
def test_value_formatting():
    assert format_value(3.0) == "3" and format_value(-0.25) == "-0.25"
    assert format_value(np.array([6.0, 12.0])) == "[6, 12]"
    assert format_value(np.array([[1.0, 0.5], [-1.0, 2.0]])) == "[[1, 0.5], [-1, 2]]"
    assert format_value(1 / 3) == "0.3333" and format_value(2) == "2"
    assert format_value(np.array([True, False])) == "[True, False]"
    assert format_value(np.full((4, 3), 2.0)) == "shape (4, 3), norm 6.928"  # sqrt(12 * 4)
    assert format_value(np.arange(7.0), max_elements=7) == "[0, 1, 2, 3, 4, 5, 6]"


def test_large_values_are_summarised_by_shape_and_norm():
    rng = np.random.default_rng(0)
    args = (rng.normal(size=5), 0.5, rng.normal(size=(4, 5)), rng.normal(size=4))
    v = graph_view(two_layer, *args, wrt=("V", "w"))
    x, y, V, w = args
    h = 1 / (1 + np.exp(-V @ x))
    gV = 2 * (w @ h - y) * np.outer(w * h * (1 - h), x)
    assert v.node("V").type == "f64[4,5]"
    assert v.node("V").g == f"shape (4, 5), norm {float(np.linalg.norm(gV)):.4g}"
    assert v.node("w").f == format_value(w) and w.size == 4 and v.node("w").f.startswith("[")


def test_adjoint_view_shows_both_sweeps():
    v = graph_view(squared, *LECTURE, wrt="w", adjoint=True)
    assert v.node("g_w").f == "[6, 12]" and v.node("g_w").kind == "adjoint"
    assert v.node("t2").f == "3" and v.node("t2").kind == "primal"
    assert "grad of models.py:9: return (w @ phi - y) ** 2" in v.groups
    dot = v.dot
    assert "value = [6, 12]" in _dot_line(dot, "g_w")
    assert any("style=dashed" in ln and '-> "g_w"' in ln for ln in dot.splitlines())


def test_structure_only_view_has_no_values():
    spec = grad(squared, wrt="w").specialize(*LECTURE)
    v = GraphView(spec.primal)
    assert all(n.f is None and n.g is None for n in v.nodes)
    assert v.node("w").type == "f64[?]" and "f = " not in v.dot


GOLDEN_CASES = {
    "squared": (squared, "w", LECTURE),
    "composition": (composition, 0, (2.0,)),
    "hinge": (hinge, "w", (np.array([0.1, -0.2, 0.3]), np.array([1.0, 2.0, 1.0]), 1.0)),
    "two_layer": (two_layer, ("V", "w"), TWO_LAYER),
}


@pytest.mark.parametrize("adjoint", [False, True], ids=["primal", "adjoint"])
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_dot(name, adjoint, check_golden):
    fn, wrt, args = GOLDEN_CASES[name]
    dot = graph_view(fn, *args, wrt=wrt, adjoint=adjoint).dot
    path = GOLDEN / f"{name}{'_adjoint' if adjoint else ''}.dot"
    check_golden(path, dot)


def test_without_graphviz_dot_still_works_and_svg_says_how_to_install(monkeypatch, tmp_path):
    import compiler.graphview as gv
    monkeypatch.setattr(gv.shutil, "which", lambda name: None)
    v = graph_view(squared, *LECTURE, wrt="w")
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        v.svg()
    with pytest.raises(GraphvizNotFound):
        v.save(tmp_path / "x.png")
    assert v._repr_svg_() is None and "install Graphviz" in repr(v)
    v.save(tmp_path / "x.dot")
    assert "g = [6, 12]" in (tmp_path / "x.dot").read_text()
    with pytest.raises(ValueError, match="use .dot, .svg or .png"):
        v.save(tmp_path / "x.jpg")


@needs_dot
def test_svg_is_valid_xml_with_one_element_per_node(tmp_path):
    v = graph_view(two_layer, *TWO_LAYER, wrt=("V", "w"))
    root = ET.fromstring(v.svg())
    ns = "{http://www.w3.org/2000/svg}"
    nodes = [g for g in root.iter(f"{ns}g") if g.get("class") == "node"]
    titles = sorted(g.find(f"{ns}title").text for g in nodes)
    assert titles == sorted(n.id for n in v.nodes) and len(nodes) == 9
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "g = [-0.4705, -2.272, -2.109]" in texts  # g_w = 2 residual h
    clusters = [g for g in root.iter(f"{ns}g") if g.get("class") == "cluster"]
    assert len(clusters) == 2  # two user lines
    assert v._repr_svg_().lstrip().startswith("<?xml")
    png = v.save(tmp_path / "two_layer.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_example_script_renders_the_lectures_graphs(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import computation_graph as ex
    finally:
        sys.path.pop(0)
    written = ex.main(["--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert len(written) == 5 and all(Path(p).exists() for p in written)
    sq = ex.views()["squared_loss"]
    assert (sq.node("residual").f, sq.node("residual").g) == ("3", "6")
    assert sq.node("w").g == "[6, 12]" and sq.node("loss").f == "9"
    assert "residual  t1 - y           f64     3       6" in out
    rnn = ex.views()["rnn_unrolled"]  # the README's picture: the same numbers as the test's
    hs, gs = _rnn_numpy(*RNN)
    assert [rnn.node(f"h_1@{k}").g for k in range(3)] == [format_value(g) for g in gs[:3]]


def test_command_line_graph_draws_one_iteration_or_unrolls(tmp_path, capsys):
    from compiler.cli import main
    target = f"{ROOT / 'examples' / 'computation_graph.py'}:rnn"
    assert main(["graph", target, "--example", "-o", str(tmp_path / "r.dot"), "-q",
                 "--iteration", "1"]) == 0
    dot = (tmp_path / "r.dot").read_text()
    assert "values of iteration 1" in dot and '"t" [' in dot and '"h_1@' not in dot
    assert main(["graph", target, "--example", "-o", str(tmp_path / "u.dot"), "--unroll"]) == 0
    assert '"h_1@2" [' in (tmp_path / "u.dot").read_text()
    assert "h_1@2" in capsys.readouterr().out  # the node table
    assert main(["graph", target, "--example", "-o", str(tmp_path / "x.dot"),
                 "--iteration", "3"]) == 1
    assert "ran 3 times" in capsys.readouterr().err


# ---- loops and branches ------------------------------------------------------------------
import graph_cases as cf  # noqa: E402
from compiler.interp import execute  # noqa: E402
from oracles import autograd_grads  # noqa: E402
from runtime.check import numerical_grad  # noqa: E402

RNN = (np.array([[0.5, -0.3], [0.2, 0.8]]), np.array([[1.0, 0.5], [-0.5, 1.0]]),
       np.array([0.1, -0.2]), np.array([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]]))  # W, U, h, xs
CARRIED = (np.array([1.0, 2.0, 0.5]), np.array([0.3, -0.2, 0.1]))  # x, w
HALVE = (np.array([1.0, 2.0]), 0.5)  # x, w


def _rnn_numpy(W, U, h, xs):
    """Forward and backward through time by hand: h_k entering step k, g_k = dloss/dh_k."""
    hs = [h]
    for x in xs:
        hs.append(np.tanh(W @ hs[-1] + U @ x))
    gs = [2 * hs[-1]]
    for k in range(len(xs), 0, -1):
        gs.insert(0, W.T @ ((1 - hs[k] ** 2) * gs[0]))
    return hs, gs


def _check_param_grads(view, fn, args, wrt):
    """g_i drawn on each wrt parameter = compiler.grad = autograd = central differences."""
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    idx = [names.index(w) for w in wrt]
    ours = grad(fn, wrt=wrt, jit=False)(*args)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for i, w, g, a in zip(idx, wrt, ours, autograd_grads(fn, args, idx)):
        np.testing.assert_allclose(g, a, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(numerical_grad(fn, args, i), a, rtol=1e-6, atol=1e-9)
        assert view.node(w).g == format_value(a), w


def test_branch_shows_the_taken_side_with_values_and_greys_the_other():
    x, a = np.array([1.0, 2.0]), 0.5
    v = graph_view(cf.branch, x, a, wrt=("x", "a"))
    assert v.node("t3").f == "True"                       # sum(x) = 3 > 0
    assert (v.node("y").f, v.node("y").g) == ("[0.5, 1]", "[1, 2]")  # y = a x, g = 2y
    assert v.node("y_1").greyed and v.node("y_1").f is None          # else side: not run
    assert v.node("y_2").expr == "y if t3 else y_1" and v.node("y_2").f == "[0.5, 1]"
    assert v.node("loss").f == format_value(np.sum((a * x) ** 2))
    kinds = {c.label.split(" ")[0]: c.kind for c in v.clusters.values() if c.kind != "line"}
    assert kinds == {"if,": "branch", "then": "taken", "else": "untaken"}
    assert any("condition t3 = True: then side taken" in c.label for c in v.clusters.values())
    _check_param_grads(v, cf.branch, (x, a), ("x", "a"))
    # the other side: g_a = 0 (a is not used), g_x = 2x
    v2 = graph_view(cf.branch, -x, a, wrt=("x", "a"))
    assert v2.node("y").greyed and v2.node("y_1").f == "[1, 2]" and v2.node("a").g == "0"
    _check_param_grads(v2, cf.branch, (-x, a), ("x", "a"))


def _carried_numpy(x, w):
    s = [1.0]
    for i in range(3):
        s.append(s[-1] * (w @ x) + x[i])
    g = [2 * s[-1]]
    for _ in range(3):
        g.insert(0, g[0] * (w @ x))
    return s, g  # s[k] enters iteration k (s[3] leaves), g[k] = dloss/ds[k]


@pytest.mark.parametrize("k", [0, 1, 2, -1])
def test_for_loop_draws_one_iteration_with_its_carried_values(k):
    s, g = _carried_numpy(*CARRIED)
    v = graph_view(cf.carried, *CARRIED, wrt=("x", "w"), iteration=k)
    k %= 3
    assert v.node("i").f == str(k)
    # s = 1.0 entering iteration 0 is a constant (no wrt parameter reaches it): no g_i
    assert (v.node("s_1").f, v.node("s_1").g) == (format_value(s[k]),
                                                  format_value(g[k]) if k else None)
    assert (v.node("s_2").f, v.node("s_2").g) == (format_value(s[k + 1]), format_value(g[k + 1]))
    assert (v.node("s_3").f, v.node("s_3").g) == (format_value(s[3]), format_value(g[3]))
    loop = [c for c in v.clusters.values() if c.kind == "loop"]
    assert len(loop) == 1 and f"trip count 3; values of iteration {k}" in loop[0].label
    _check_param_grads(v, cf.carried, CARRIED, ("x", "w"))
    with pytest.raises(ValueError, match="ran 3 times"):
        graph_view(cf.carried, *CARRIED, iteration=3)


def test_execute_records_every_iteration_exactly():
    gf = grad(cf.carried, wrt=("x", "w"), jit=False)
    spec = gf.specialize(*CARRIED)
    run = execute(spec.primal, gf.normalize(CARRIED)[0], gf.wrt)
    (loop, its), = run.loops.items()
    s, g = _carried_numpy(*CARRIED)
    param = loop.regions[0].params[1]
    assert [it.values[param] for it in its] == pytest.approx(s[:3], rel=1e-15)
    assert param not in its[0].grads  # s = 1.0 entering iteration 0 is a constant
    assert [it.grads[param] for it in its[1:]] == pytest.approx(g[1:3], rel=1e-14)


def test_unrolled_for_loop_carries_the_cotangent_on_each_back_edge():
    s, g = _carried_numpy(*CARRIED)
    v = graph_view(cf.carried, *CARRIED, wrt=("x", "w"), unroll=True)
    for k in range(3):
        assert v.node(f"s_1@{k}").f == format_value(s[k])
        assert v.node(f"s_2@{k}").g == format_value(g[k + 1])
    for k in (1, 2):  # edge from iteration k-1's result into iteration k, labelled g_k
        e, = [e for e in v.edges if e[:2] == (f"s_2@{k - 1}", f"s_1@{k}")]
        assert f'label="g = {format_value(g[k])}"' in e[3]
    _check_param_grads(v, cf.carried, CARRIED, ("x", "w"))
    with pytest.raises(ValueError, match="ran 9 times .at most 8"):
        graph_view(cf.rnn, *RNN[:3], np.zeros((9, 2)), unroll=True)


def test_while_with_break_runs_its_trips_and_stops():
    # x halves until sum(x) < 0.5: sums 1.5, 0.75, 0.375 -> the break in the 3rd trip
    x, w = HALVE
    v = graph_view(cf.halve, x, w, wrt=("x", "w"))
    loop, = [c for c in v.clusters.values() if c.kind == "loop"]
    assert "while loop" in loop.label and "trip count 3" in loop.label
    assert v.node("x_3").f == "[0.125, 0.25]" and v.node("broke_2").f == "True"
    assert v.node("t8").f == "True" and v.node("n_3").greyed  # n = n + 1 skipped
    assert v.node("x_2").g == "[0.5, 0.5]"  # d sum(x w) / dx at the last trip
    assert v.node("n_5").f == "2" and v.node("loss").f == "0.375"
    assert v.node("x").g == format_value(np.full(2, w ** 3))
    assert v.node("w").g == format_value(3 * w ** 2 * np.sum(x))
    _check_param_grads(v, cf.halve, HALVE, ("x", "w"))
    u = graph_view(cf.halve, x, w, wrt=("x", "w"), unroll=True)
    assert [u.node(f"x_3@{k}").f for k in range(3)] == ["[0.5, 1]", "[0.25, 0.5]", "[0.125, 0.25]"]
    assert [u.node(f"t8@{k}").f for k in range(3)] == ["False", "False", "True"]


def test_rnn_over_three_steps_unrolled_equals_backpropagation_through_time():
    W, U, h, xs = RNN
    hs, gs = _rnn_numpy(*RNN)
    v = graph_view(cf.rnn, *RNN, wrt=("W", "U", "h"), unroll=True)
    for k in range(3):
        assert v.node(f"h_1@{k}").f == format_value(hs[k])      # h entering step k
        assert v.node(f"h_1@{k}").g == format_value(gs[k])      # its cotangent
        assert v.node(f"h_2@{k}").f == format_value(hs[k + 1])  # h leaving step k
        assert v.node(f"t@{k}").f == str(k)
    assert v.node("loss").f == format_value(np.sum(hs[3] ** 2))
    assert v.node("h").g == format_value(gs[0])
    _check_param_grads(v, cf.rnn, RNN, ("W", "U", "h"))
    run = execute(grad(cf.rnn, wrt="W", jit=False).specialize(*RNN).primal, list(RNN), (0, 1, 2))
    (loop, its), = run.loops.items()
    for k, it in enumerate(its):  # the exact numbers, not only their text
        np.testing.assert_allclose(it.values[loop.regions[0].params[1]], hs[k], rtol=1e-15)
        np.testing.assert_allclose(it.grads[loop.regions[0].params[1]], gs[k], rtol=1e-13)


def test_adjoint_view_of_a_loop_draws_its_stacks_as_tapes():
    hs, gs = _rnn_numpy(*RNN)
    v = graph_view(cf.rnn, *RNN, wrt=("W", "U", "h"), adjoint=True)
    tapes = {n.id: n for n in v.nodes if n.kind == "tape"}
    tape = tapes["stack_h"]  # the carried h at each step's entry, pushed by the forward loop
    assert tape.f == "3 entries"
    assert tape.entries == tuple(f"[{k}] {format_value(hs[k])}" for k in range(3))
    assert any(e[1] == "stack_h" and "push" in e[3] for e in v.edges)
    assert any(e[0] == "stack_h" for e in v.edges)  # read back by the backward loop
    gW, gU, gh = grad(cf.rnn, wrt=("W", "U", "h"), jit=False)(*RNN)
    assert v.node("g_h_2").f == format_value(gh) == format_value(gs[0])
    assert v.node("g_W_1").f == format_value(gW)
    assert len([c for c in v.clusters.values() if c.kind == "loop"]) == 2  # forward, backward


LOOP_GOLDEN = {
    "if": (cf.branch, ("x", "a"), (np.array([1.0, 2.0]), 0.5), {}),
    "for_carried": (cf.carried, ("x", "w"), CARRIED, {}),
    "for_carried_unrolled": (cf.carried, ("x", "w"), CARRIED, {"unroll": True}),
    "while_break": (cf.halve, ("x", "w"), HALVE, {}),
    "rnn_unrolled": (cf.rnn, ("W", "U", "h"), RNN, {"unroll": True}),
    "rnn_adjoint": (cf.rnn, ("W", "U", "h"), RNN, {"adjoint": True}),
}


# ---- calls of user functions: Loc.inlined_at and collapse/depth --------------------------
from compiler.ir.core import Loc  # noqa: E402
from compiler.ir.walk import walk  # noqa: E402

TWO = (np.array([[0.2, 0.4], [0.6, 0.8]]), np.array([[0.3, -0.3], [0.2, 0.7]]),
       np.array([1.0, -2.0]))  # W1, W2, x
CASES = Path(cf.__file__).name


def _line_of(fn, text):
    import inspect
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, ln in enumerate(lines) if text in ln)


def test_inlined_ops_record_their_call_sites_without_changing_loc_equality():
    spec = grad(cf.nested, wrt=("W1", "W2"), jit=False).specialize(*TWO)
    line = _line_of(cf.block, "return layer(W2, layer(W1, x))")
    chains = {tuple((c.line, c.col) for c in op.loc.call_chain())
              for op in walk(spec.graph.ops) if op.prim == "tanh"}
    outer = (_line_of(cf.nested, "return np.sum"), 18)  # `block(W1, W2, x)` in nested
    assert chains == {(outer, (line, 11)), (outer, (line, 21))}  # layer(W2, .), layer(W1, x)
    tanh = [op.loc for op in walk(spec.graph.ops) if op.prim == "tanh"]
    assert tanh[0] == tanh[1] and hash(tanh[0]) == hash(tanh[1])  # one line, two calls
    assert tanh[0].inlined_at is not tanh[1].inlined_at
    assert repr(tanh[0]) == repr(Loc(tanh[0].file, tanh[0].line, tanh[0].col, tanh[0].text))
    # ops of the loss itself: not inlined
    assert all(op.loc.inlined_at is None for op in spec.primal.ops if op.prim == "sum")


def test_collapse_draws_each_call_as_one_node_with_its_f_and_g():
    import autograd
    W1, W2, x = TWO
    h1 = np.tanh(W1 @ x)
    h2 = np.tanh(W2 @ h1)
    v = graph_view(cf.two_layers, *TWO, wrt=("W1", "W2"), collapse=True)
    calls = [n for n in v.nodes if n.kind == "call"]
    assert [(n.id, n.expr) for n in calls] == [("t2", "layer(W1, x)"),
                                               ("h", "layer(W2, layer(W1, x))")]
    assert [n.f for n in calls] == [format_value(h1), format_value(h2)]
    # g of the inner call's output is d loss / d h1, by autograd and by compiler.grad on
    # the loss after that call, and g of the outer one is d sum(h^2) / dh = 2h
    g_h1 = autograd.grad(cf.two_layers_tail, 0)(h1, W2)
    np.testing.assert_allclose(grad(cf.two_layers_tail, wrt="h1", jit=False)(h1, W2), g_h1,
                               rtol=1e-13)
    assert calls[0].g == format_value(g_h1) and calls[1].g == format_value(2 * h2)
    assert {n.id for n in v.nodes} == {"W1", "W2", "x", "t2", "h", "t5", "loss"}  # no tanh, @
    assert set(v.edges) == {("W1", "t2", "primal", ""), ("x", "t2", "primal", ""),
                            ("W2", "h", "primal", ""), ("t2", "h", "primal", ""),
                            ("h", "t5", "primal", ""), ("t5", "loss", "primal", "")}
    _check_param_grads(v, cf.two_layers, TWO, ("W1", "W2"))
    assert f'label="{CASES}:{_line_of(cf.two_layers, "h = layer")}: h = layer(W2, ' \
           'layer(W1, x))"' in v.dot  # both calls in their line's box
    # default: every op drawn, two tanh nodes
    full = graph_view(cf.two_layers, *TWO, wrt=("W1", "W2"))
    assert [n.expr.split("(")[0] for n in full.nodes if "tanh" in n.expr] == ["np.tanh"] * 2
    assert not any(n.kind == "call" for n in full.nodes)


def test_collapsed_adjoint_view_folds_each_calls_backward_ops():
    W1, W2, x = TWO
    gW1, gW2 = grad(cf.two_layers, wrt=("W1", "W2"), jit=False)(*TWO)
    v = graph_view(cf.two_layers, *TWO, wrt=("W1", "W2"), collapse=True, adjoint=True)
    fwd = [n for n in v.nodes if n.kind == "call"]
    back = {n.expr: n for n in v.nodes if n.kind == "adjoint_call"}
    assert [n.expr for n in fwd] == ["layer(W1, x)", "layer(W2, layer(W1, x))"]
    assert set(back) == {"grad of layer(W1, x)", "grad of layer(W2, layer(W1, x))"}
    assert back["grad of layer(W1, x)"].f == format_value(gW1)
    outer = back["grad of layer(W2, layer(W1, x))"]  # g_W2 and the cotangent of h1
    g_h1 = grad(cf.two_layers_tail, wrt="h1", jit=False)(np.tanh(W1 @ x), W2)
    name = outer.id.split(", ")[1]
    assert outer.id.startswith("g_W2, ") and outer.f == \
        f"g_W2: {format_value(gW2)}; {name}: {format_value(g_h1)}"
    assert (outer.id, back["grad of layer(W1, x)"].id, "adjoint", "") in \
        [(a, b, p, "") for a, b, p, _ in v.edges]  # the cotangent flows to the inner call
    assert "value = " in _dot_line(v.dot, outer.id)


@pytest.mark.parametrize("depth,calls", [(0, ["block(W1, W2, x)"]),
                                         (1, ["layer(W1, x)", "layer(W2, layer(W1, x))"]),
                                         (2, [])])
def test_depth_folds_calls_nested_deeper_than_it(depth, calls):
    W1, W2, x = TWO
    v = graph_view(cf.nested, *TWO, wrt=("W1", "W2"), depth=depth)
    assert [n.expr for n in v.nodes if n.kind == "call"] == calls
    out = v.node("t4")  # the value block returns (a call node unless depth = 2)
    assert out.kind == ("primal" if depth == 2 else "call")
    assert out.f == format_value(np.tanh(W2 @ np.tanh(W1 @ x)))
    if depth == 2:  # nothing deeper than 2: the full picture
        assert v.dot == graph_view(cf.nested, *TWO, wrt=("W1", "W2")).dot
    with pytest.raises(ValueError, match="depth=-1"):
        graph_view(cf.nested, *TWO, depth=-1)


def test_a_call_in_a_loop_body_collapses_in_each_iteration():
    hs, gs = _rnn_numpy(*RNN)
    v = graph_view(cf.rnn_cell, *RNN, wrt=("W", "U", "h"), collapse=True, unroll=True)
    for k in range(3):
        n = v.node(f"h_2@{k}")
        assert (n.kind, n.expr) == ("call", "cell(W, U, h, xs[t])")
        assert (n.f, n.g) == (format_value(hs[k + 1]), format_value(gs[k + 1]))
        assert (f"h_1@{k}", f"h_2@{k}", "primal", "") in v.edges
    _check_param_grads(v, cf.rnn_cell, RNN, ("W", "U", "h"))
    one = graph_view(cf.rnn_cell, *RNN, wrt=("W", "U", "h"), collapse=True, iteration=1)
    assert (one.node("h_2").f, one.node("h_2").g) == (format_value(hs[2]), format_value(gs[2]))
    adj = graph_view(cf.rnn_cell, *RNN, wrt=("W", "U", "h"), collapse=True, adjoint=True)
    gW, gU, gh = grad(cf.rnn_cell, wrt=("W", "U", "h"), jit=False)(*RNN)
    assert [n.expr for n in adj.nodes if "call" in n.kind] == [
        "cell(W, U, h, xs[t])", "grad of cell(W, U, h, xs[t])"]
    assert adj.node("g_h_2").f == format_value(gh) and adj.node("g_W_1").f == format_value(gW)


CALL_GOLDEN = {
    "calls_collapsed": (cf.two_layers, ("W1", "W2"), TWO, {"collapse": True}),
    "calls_collapsed_adjoint": (cf.two_layers, ("W1", "W2"), TWO,
                                {"collapse": True, "adjoint": True}),
    "rnn_cell_collapsed_unrolled": (cf.rnn_cell, ("W", "U", "h"), RNN,
                                    {"collapse": True, "unroll": True}),
}


@pytest.mark.parametrize("name", sorted(LOOP_GOLDEN) + sorted(CALL_GOLDEN))
def test_golden_dot_control_flow_and_calls(name, check_golden):
    fn, wrt, args, opts = {**LOOP_GOLDEN, **CALL_GOLDEN}[name]
    check_golden(GOLDEN / f"graph_{name}.dot", graph_view(fn, *args, wrt=wrt, **opts).dot)


def test_command_line_graph_collapses_calls(tmp_path, capsys):
    from compiler.cli import main
    W1, W2, x = TWO
    np.savez(tmp_path / "a.npz", W1=W1, W2=W2, x=x)
    target = f"{ROOT / 'tests' / 'graph_cases.py'}:nested"
    base = ["graph", target, "--args", str(tmp_path / "a.npz"), "--wrt", "W1,W2"]
    assert main(base + ["-o", str(tmp_path / "c.dot"), "--collapse"]) == 0
    dot = (tmp_path / "c.dot").read_text()
    assert "= block(W1, W2, x)" in dot and "np.tanh" not in dot
    assert main(base + ["-o", str(tmp_path / "d.dot"), "--depth", "1", "-q"]) == 0
    dot = (tmp_path / "d.dot").read_text()
    assert "= layer(W1, x)" in dot and "= block(W1" not in dot and "np.tanh" not in dot
    out = capsys.readouterr().out
    assert "t4    block(W1, W2, x)" in out  # the node table (first run)
    assert main(base + ["-o", str(tmp_path / "e.dot"), "--depth", "-1"]) == 1
    assert "depth=-1" in capsys.readouterr().err
