"""Run-time errors are located through the line map code generation writes (generated
line -> user Loc and sweep): it agrees with the `# file:line` comments of the source,
and it names the right line where reading comments back could not."""
import numpy as np
import pytest

import safety_code as sc
from compiler import grad, value_and_grad
from compiler.codegen import function_source, module_source
from compiler.errors import RunError
from models import four_layer, rnn


def _comment_above(lines, n):
    for text in reversed(lines[:n]):
        text = text.strip()
        if text.startswith("# ") and ".py:" in text and "sweep" not in text:
            return text
    return None


@pytest.mark.parametrize("loss, args, wrt", [
    (four_layer, (np.ones(3), 0.5, np.ones((4, 3)), np.ones((4, 4)), np.ones((4, 4)),
                  np.ones(4)), ("V1", "V2", "V3", "w")),
    (rnn, (np.eye(3), np.ones((3, 2)), np.zeros(3), np.ones((5, 2))), ("W", "U")),
])
def test_line_map_agrees_with_the_comments(loss, args, wrt):
    g = value_and_grad(loss, wrt=wrt, jit=False)
    gen = g.specialize(*args).generated
    lines = gen.module_source.splitlines()
    assert gen.line_map
    for n, (loc, phase) in gen.line_map.items():
        comment = _comment_above(lines, n)
        prefix = "# grad of " if phase == "adjoint" else "# "
        assert comment == f"{prefix}{loc.file.rsplit('/', 1)[-1]}:{loc.line}: {loc.text}", n
    # and the function's own map, shifted to where module_source put it
    src, consts, fmap = function_source(gen.graph, gen.name)
    text, (start,) = module_source([src], consts)
    assert text == gen.module_source and text.splitlines()[start - 1].startswith("def ")
    assert {start - 1 + k: v for k, v in fmap.items()} == gen.line_map


def mentions_a_sweep(w, X):
    sweep = X @ w  # a user line that says "sweep"
    return np.sum(sweep ** 2)


@pytest.mark.parametrize("jit", [True, False])
def test_a_user_line_is_found_whatever_its_text(jit):
    with pytest.raises(RunError, match="forward sweep of mentions_a_sweep") as e:
        grad(mentions_a_sweep, jit=jit)(np.ones(3), np.ones((4, 2)))
    assert f"test_locate.py:{mentions_a_sweep.__code__.co_firstlineno + 1}:5" in str(e.value)


def calls_a_function_of_another_file(w, X, y):
    return sc.least_squares(w, X, y) + np.sum(w ** 2)


@pytest.mark.parametrize("jit", [True, False])
def test_an_inlined_function_of_another_file_is_named_with_its_path(jit):
    with pytest.raises(RunError) as e:
        grad(calls_a_function_of_another_file, jit=jit)(np.ones(3), np.ones((4, 2)), np.ones(4))
    assert str(e.value).startswith(sc.__file__ + ":20:")
    assert "return np.mean((X @ w - y) ** 2)" in str(e.value)  # the line, with a caret


class _Counting:
    def __init__(self, fn):
        self.fn, self.__code__, self.calls = fn, fn.__code__, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@pytest.mark.parametrize("jit, reruns", [(False, 0), (True, 1)])
def test_only_compiled_code_is_run_again_to_locate_an_error(jit, reruns):
    g = grad(sc.least_squares, jit=jit)
    g(np.ones(2), np.ones((4, 2)), np.ones(4))
    spec = g._last
    numpy_tier = _Counting(spec.numpy_tier())
    spec.numpy_tier = lambda: numpy_tier
    with pytest.raises(RunError, match="forward sweep") as e:
        g(np.ones(3), np.ones((4, 2)), np.ones(4))
    assert "safety_code.py:20:" in str(e.value)
    assert numpy_tier.calls == reruns
