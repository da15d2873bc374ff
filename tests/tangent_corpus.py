"""Runs google/tangent's corpus of small test functions (its `tests/functions.py`)
through adjoint's reverse mode, with autograd as the oracle (central differences where
autograd cannot run the function, as Tangent's own tests do).

The corpus is Tangent's file (Apache-2.0, Copyright 2017 Google Inc.), not a copy kept
here: `load(path)` executes the file given by `ADJOINT_TANGENT_FUNCTIONS` (or
`tests/corpus/tangent_functions.py` when that exists) twice, once with NumPy and once
with autograd.numpy as its `np`, with a stand-in `tangent` module (its runtime helpers
raise: the functions that call them are Tangent-specific). Arguments follow Tangent's
conventions (tests/conftest.py there): `a`, `b`, `c` scalars, `x` a vector, `n` a
positive int, `sqm` a square matrix; the few functions Tangent tests by hand get the
arguments its test_reverse_mode.py gives them. Every float argument is differentiated.

`run(path)` returns one `Outcome` per function: "pass", "fail" (with the reason),
or "excluded" (with why: Tangent's runtime, a tuple result that needs `vjp`, or input
on which the function is not valid Python). The pass rate is over the functions not
excluded.
"""
from __future__ import annotations

import copy
import os
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PATH = HERE / "corpus" / "tangent_functions.py"

# Functions that are not reverse-mode tests of a scalar loss, and why.
EXCLUDED = {
    "stack_pushing": "calls Tangent's runtime (tangent.Stack/push/pop)",
    "useless_stack_ops": "calls Tangent's runtime (tangent.Stack/push/pop)",
    "redefining_var_as_list": "calls Tangent's runtime (tangent.Stack/push/pop)",
    "inlining_contextmanager": "uses Tangent's `with insert_grad_of(...)`",
    "fn_multiple_return": "returns a tuple, not a scalar loss (the transforms, vjp included, "
                          "take functions whose value is one array or number)",
    "cart2polar": "returns a tuple, not a scalar loss (the transforms, vjp included, take "
                  "functions whose value is one array or number)",
    "listcomp": "iterates over its scalar argument: a TypeError in Python too (Tangent "
                "blacklists it)",
}
# Failures that are other work's, named in the summary (they still count as failures).
OWNED_ELSEWHERE = {
    "test_subscript2": "writes into an argument (issue 13)",
    "test_subscript3": "writes into an argument (issue 13)",
    "active_subscript": "indexed writes (issue 13)",
    "init_array_grad_maybe_active": "indexed writes (issue 13)",
    "rnn": "indexed writes (issue 13)",
    "numpy_atleast_1d": "np.atleast_1d (issue 15)",
    "numpy_atleast_2d": "np.atleast_2d (issue 15)",
    "numpy_atleast_3d": "np.atleast_3d (issue 15)",
    "det": "np.linalg.det (issue 15)",
}
# Helpers of the corpus, not tests (Tangent's conftest collects them too, but they are
# called only by others or by the TF tests).
HELPERS = {"_inner_fn", "_trace_mul", "_nontrace_mul", "insert_grad_of"}

SCALARS = (-1.5, -0.5, 0.1, 0.5, 2.0)
VECTOR_SIZES = (3, 5)


@dataclass
class Outcome:
    name: str
    status: str  # "pass", "fail", "excluded"
    reason: str = ""


def _stand_in_tangent():
    mod = types.ModuleType("tangent")

    def runtime_only(*args, **kwargs):
        raise RuntimeError("Tangent's runtime is not available here")

    mod.Stack = mod.push = mod.pop = mod.insert_grad_of = runtime_only
    mod.trace = lambda f: f
    return mod


def corpus_path() -> Path | None:
    env = os.environ.get("ADJOINT_TANGENT_FUNCTIONS")
    path = Path(env) if env else DEFAULT_PATH
    return path if path.is_file() else None


def load(path, numpy_module) -> types.ModuleType:
    """The corpus file executed as a module whose `np` is `numpy_module`."""
    name = f"tangent_corpus_{numpy_module.__name__.replace('.', '_')}"
    saved = sys.modules.get("tangent")
    sys.modules["tangent"] = _stand_in_tangent()
    try:
        mod = types.ModuleType(name)
        mod.__file__ = str(path)
        sys.modules[name] = mod  # inspect.getsource finds the file through the module
        code = compile(Path(path).read_text(), str(path), "exec")
        exec(code, mod.__dict__)
        mod.np = numpy_module
    finally:
        if saved is None:
            sys.modules.pop("tangent", None)
        else:
            sys.modules["tangent"] = saved
    return mod


def functions(mod) -> list:
    """The corpus's test functions, in file order (TF ones left out: no TensorFlow)."""
    out = []
    for name, f in vars(mod).items():
        if isinstance(f, types.FunctionType) and f.__module__ == mod.__name__ \
                and not name.startswith("tfe_") and name not in HELPERS:
            out.append(f)
    return out


def argument_sets(fn, rng) -> list[tuple]:
    """Arguments for `fn` by Tangent's conventions; several sets per function."""
    name = fn.__name__
    special = {
        "logistic_regression": lambda: (rng.random(3), np.eye(5)[1], rng.standard_normal((3, 5)),
                                        rng.standard_normal(5)),
        "rnn": lambda: (rng.standard_normal((3, 2)), rng.standard_normal((2, 3))),
        "bilinear": lambda: tuple(rng.standard_normal(s) for s in
                                  ((1, 3), (1, 3), (3, 3), (3, 3), (1, 3))),
        "dict_saxpy": lambda: ({"a": rng.standard_normal(), "b": rng.standard_normal(),
                                "c": rng.standard_normal()},),
        "nested_dict": lambda: ({"i": {"j": 3.0 + rng.random(), "k": 4.0 + rng.random()}},),
        "passthru_pack": lambda: (*rng.standard_normal(3), 1),
    }
    if name in special:
        return [special[name]() for _ in range(2)]
    code = fn.__code__
    params = code.co_varnames[:code.co_argcount]
    sets = []
    for k, a in enumerate(SCALARS):
        size = VECTOR_SIZES[k % len(VECTOR_SIZES)]
        values = {"a": a, "b": SCALARS[(k + 2) % len(SCALARS)], "c": SCALARS[(k + 4) % len(SCALARS)],
                  "x": rng.standard_normal(size), "n": 1 + k % 3,
                  "sqm": rng.standard_normal((1 + 2 * (k % 3),) * 2),
                  "abc_packed_in_tuple": tuple(rng.standard_normal(3))}
        sets.append(tuple(values[p] for p in params))
    return sets


def float_positions(args) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(args) if not isinstance(a, (int, np.integer))
                 or isinstance(a, bool))


def _flatten(tree) -> np.ndarray:
    if isinstance(tree, dict):
        return np.concatenate([_flatten(tree[k]) for k in tree]) if tree else np.zeros(0)
    if isinstance(tree, (list, tuple)):
        return np.concatenate([_flatten(t) for t in tree]) if tree else np.zeros(0)
    return np.atleast_1d(np.asarray(tree, dtype=float)).ravel()


def _unflatten(tree, flat, pos=0):
    if isinstance(tree, dict):
        out = {}
        for k in tree:
            out[k], pos = _unflatten(tree[k], flat, pos)
        return out, pos
    if isinstance(tree, (list, tuple)):
        items = []
        for t in tree:
            v, pos = _unflatten(t, flat, pos)
            items.append(v)
        return (type(tree)(*items) if hasattr(type(tree), "_fields") else type(tree)(items)), pos
    size = np.size(tree)
    part = flat[pos:pos + size]
    return (part.reshape(np.shape(tree)) if np.ndim(tree) else float(part[0])), pos + size


def central_differences(fn, args, i, h=1e-6):
    """d fn / d args[i] by central differences, with args[i]'s structure."""
    flat = _flatten(args[i])
    out = np.zeros_like(flat)
    for d in range(flat.size):
        vals = []
        for s in (1, -1):
            p = flat.copy()
            p[d] += s * h / 2
            a = list(copy.deepcopy(args))
            a[i] = _unflatten(args[i], p)[0]
            vals.append(float(fn(*a)))
        out[d] = (vals[0] - vals[1]) / h
    return _unflatten(args[i], out)[0]


def oracle(ag_fn, np_fn, args, i):
    """autograd's gradient with respect to args[i]; central differences when autograd
    cannot run the function (writes into arrays)."""
    from autograd import grad as ag_grad
    try:
        return ag_grad(ag_fn, i)(*copy.deepcopy(args))
    except Exception:  # noqa: BLE001 - any autograd failure: fall back, as Tangent does
        return central_differences(np_fn, args, i)


def close(ours, ref, tol=1e-5) -> bool:
    a, b = np.nan_to_num(_flatten(ours)), np.nan_to_num(_flatten(ref))
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol)


def check(np_fn, ag_fn, rng, jit=False) -> Outcome:
    from compiler import grad
    name = np_fn.__name__
    if name in EXCLUDED:
        return Outcome(name, "excluded", EXCLUDED[name])
    try:
        for args in argument_sets(np_fn, rng):
            wrt = float_positions(args)
            ours = grad(np_fn, wrt=wrt, jit=jit)(*copy.deepcopy(args))
            for k, i in enumerate(wrt):
                ref = oracle(ag_fn, np_fn, args, i)
                if not close(ours[k], ref):
                    return Outcome(name, "fail", f"gradient wrt {np_fn.__code__.co_varnames[i]} "
                                                 f"differs at {args!r}: {ours[k]!r} vs {ref!r}")
    except Exception as e:  # noqa: BLE001 - the reason is reported
        first = (str(e).strip().splitlines() or [""])[0]
        return Outcome(name, "fail", f"{type(e).__name__}: {first}")
    return Outcome(name, "pass")


def run(path, jit=False, seed=0) -> list[Outcome]:
    import autograd.numpy as anp
    np_mod, ag_mod = load(path, np), load(path, anp)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return [check(f, getattr(ag_mod, f.__name__), rng, jit) for f in functions(np_mod)]


def summary(outcomes) -> str:
    counted = [o for o in outcomes if o.status != "excluded"]
    passed = sum(o.status == "pass" for o in counted)
    lines = [f"tangent corpus: {passed}/{len(counted)} pass "
             f"({100 * passed / max(len(counted), 1):.1f} %), "
             f"{len(outcomes) - len(counted)} excluded"]
    lines += [f"  FAIL {o.name}: {o.reason}" + (f" [{OWNED_ELSEWHERE[o.name]}]" if o.name in
                                                 OWNED_ELSEWHERE else "")
              for o in outcomes if o.status == "fail"]
    lines += [f"  excluded {o.name}: {o.reason}" for o in outcomes if o.status == "excluded"]
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/tangent_corpus.py [path] [--jit]
    p = next((a for a in sys.argv[1:] if not a.startswith("--")), None) or corpus_path()
    if p is None:
        sys.exit("set ADJOINT_TANGENT_FUNCTIONS to google/tangent's tests/functions.py")
    sys.path.insert(0, str(HERE.parent))
    print(summary(run(p, jit="--jit" in sys.argv)))
