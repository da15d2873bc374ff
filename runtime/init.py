"""Weight initialisation: Xavier/Glorot and He (normal and uniform), plain normal and
uniform, seeded with numpy's Generator.

Fans: a weight of shape (n_out, n_in) is used as `W @ x` (the lecture's `V1 @ x`) or
`X @ W.T`: fan_in = n_in = prod(shape[1:]), fan_out = n_out = shape[0]. A vector
`w` of shape (n,) used as `w @ h` has fan_in = n, fan_out = 1. Pass `fan_in=` /
`fan_out=` to override (e.g. for a weight used as `X @ W`, shape (n_in, n_out)).

- Glorot & Bengio 2010 (sec. 4.2.1, eq. 16): Var(W) = 2 / (fan_in + fan_out), i.e.
  uniform on [-a, a] with a = sqrt(6 / (fan_in + fan_out)), or normal with
  std = sqrt(2 / (fan_in + fan_out)). Suits sigmoid and tanh layers.
- He, Zhang, Ren & Sun 2015 (sec. 2.2, eq. 10): Var(W) = 2 / fan_in, i.e. normal with
  std = sqrt(2 / fan_in), or uniform with a = sqrt(6 / fan_in). Suits ReLU layers.

Every function takes `rng`: a numpy.random.Generator, an int seed or None (fresh
entropy), and returns a new C-contiguous float64 array of `shape`.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["fans", "glorot_normal", "glorot_uniform", "xavier_normal", "xavier_uniform",
           "he_normal", "he_uniform", "normal", "uniform", "zeros", "init_params"]


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


def _shape(shape) -> tuple:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not shape or any(not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
        raise ValueError(f"shape must be a non-empty tuple of positive ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def fans(shape, fan_in=None, fan_out=None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of `shape` (see the module docstring)."""
    shape = _shape(shape)
    fi = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
    fo = shape[0] if len(shape) > 1 else 1
    return int(fan_in or fi), int(fan_out or fo)


def glorot_normal(shape, rng=None, fan_in=None, fan_out=None) -> np.ndarray:
    """Normal(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fi, fo = fans(shape, fan_in, fan_out)
    return _rng(rng).normal(0.0, math.sqrt(2.0 / (fi + fo)), size=_shape(shape))


def glorot_uniform(shape, rng=None, fan_in=None, fan_out=None) -> np.ndarray:
    """Uniform[-a, a], a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, eq. 16)."""
    fi, fo = fans(shape, fan_in, fan_out)
    a = math.sqrt(6.0 / (fi + fo))
    return _rng(rng).uniform(-a, a, size=_shape(shape))


xavier_normal, xavier_uniform = glorot_normal, glorot_uniform


def he_normal(shape, rng=None, fan_in=None) -> np.ndarray:
    """Normal(0, 2 / fan_in) (He et al. 2015, eq. 10)."""
    fi, _ = fans(shape, fan_in)
    return _rng(rng).normal(0.0, math.sqrt(2.0 / fi), size=_shape(shape))


def he_uniform(shape, rng=None, fan_in=None) -> np.ndarray:
    """Uniform[-a, a], a = sqrt(6 / fan_in): He et al.'s variance 2 / fan_in."""
    fi, _ = fans(shape, fan_in)
    a = math.sqrt(6.0 / fi)
    return _rng(rng).uniform(-a, a, size=_shape(shape))


def normal(shape, std=0.01, rng=None, mean=0.0) -> np.ndarray:
    """Normal(mean, std^2) entries; std >= 0 (ValueError otherwise)."""
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std}")
    return _rng(rng).normal(mean, std, size=_shape(shape))


def uniform(shape, low=-0.05, high=0.05, rng=None) -> np.ndarray:
    """Uniform[low, high) entries; low < high (ValueError otherwise)."""
    if not low < high:
        raise ValueError(f"uniform needs low < high, got {low}, {high}")
    return _rng(rng).uniform(low, high, size=_shape(shape))


def zeros(shape, rng=None) -> np.ndarray:
    """All zeros (biases); `rng` is accepted and ignored, for uniform call sites."""
    return np.zeros(_shape(shape))


_SCHEMES = {"glorot_normal": glorot_normal, "glorot_uniform": glorot_uniform,
            "xavier_normal": glorot_normal, "xavier_uniform": glorot_uniform,
            "he_normal": he_normal, "he_uniform": he_uniform, "normal": normal,
            "uniform": uniform, "zeros": zeros}


def init_params(shapes: dict, scheme="glorot_normal", rng=None) -> dict:
    """{name: array} for {name: shape}, drawn in the dict's order from one Generator.

    scheme: a scheme name ('glorot_normal', 'glorot_uniform', 'xavier_*', 'he_normal',
    'he_uniform', 'normal', 'uniform', 'zeros'), or a dict {name: scheme name} naming
    one per parameter (missing names use 'glorot_normal'). Raises ValueError for an
    unknown scheme."""
    g = _rng(rng)
    out = {}
    for name, shape in shapes.items():
        s = scheme.get(name, "glorot_normal") if isinstance(scheme, dict) else scheme
        if s not in _SCHEMES:
            raise ValueError(f"unknown initialisation scheme {s!r} for {name!r}; "
                             f"choose one of {', '.join(sorted(_SCHEMES))}")
        out[name] = _SCHEMES[s](shape, rng=g)
    return out
