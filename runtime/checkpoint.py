"""Saving and loading trained parameters with `np.savez` (no pickle).

`save_params(path, params)` writes one array per parameter name into an `.npz` file;
`load_params(path)` returns them as {name: float64 array}, ready to pass back to
`runtime.train.fit` or to a prediction function.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["save_params", "load_params"]


def save_params(path, params: dict) -> None:
    """Write {name: array} to `path` (np.savez; NumPy appends '.npz' if missing).

    Raises ValueError for a non-dict, a name that is not an identifier (the loss's
    argument names are), or a value that is not a numeric array."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict {{name: array}}, got {type(params).__name__}")
    arrays = {}
    for k, v in params.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"parameter name {k!r} is not a Python identifier")
        a = np.asarray(v)
        if a.dtype.kind not in "fiu":
            raise ValueError(f"parameter {k!r} is not a numeric array (dtype {a.dtype})")
        arrays[k] = a
    np.savez(os.fspath(path), **arrays)


def load_params(path) -> dict:
    """{name: float64 C-contiguous array} from a file written by `save_params`.

    Raises FileNotFoundError for a missing file and ValueError for a file that is not an
    .npz archive of numeric arrays (pickled objects are refused)."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError(f"{path} is a single .npy array, not an .npz of parameters")
            return {k: np.ascontiguousarray(z[k], dtype=np.float64) for k in z.files}
    except (OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"cannot load parameters from {path}: {e}") from None
