"""The JIT cache: content-addressed files, atomic writes, no foreign code, and a second
process that loads the compiled gradient from Numba's cache instead of recompiling."""
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compiler import jit

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from models import four_layer as loss
    from compiler import value_and_grad
    rng = np.random.default_rng(0)
    args = (rng.normal(size=5), 0.5, rng.normal(size=(4, 5)), rng.normal(size=(4, 4)),
            rng.normal(size=(4, 4)), rng.normal(size=4))
    vg = value_and_grad(loss, wrt=("V1", "V2", "V3", "w"), jit=True)
    value, grads = vg(*args)
    info = vg.compile_info
    info["value"] = value
    stats = vg._spec().fn.stats  # Numba's own counters: loaded from its cache, or compiled
    info["hits"] = sum(stats.cache_hits.values())
    info["misses"] = sum(stats.cache_misses.values())
    print(json.dumps(info))
""")


def _run(cache):
    env = dict(os.environ, ADJOINT_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(ROOT / "tests"))],
                         env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_cache_without_recompiling(tmp_path):
    cold = _run(tmp_path / "cache")
    warm = _run(tmp_path / "cache")
    assert cold["cache_hit"] is False and cold["hits"] == 0 and cold["misses"] >= 1, cold
    assert warm["cache_hit"] is True and warm["hits"] >= 1 and warm["misses"] == 0, warm
    assert warm["value"] == cold["value"]


def test_cache_dir_is_private(tmp_path, monkeypatch):
    d = tmp_path / "c"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(d))
    path = jit.write_source("x = 1\n")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o720])
def test_group_or_world_writable_cache_dir_is_refused_not_repaired(tmp_path, monkeypatch, mode):
    d = tmp_path / "c"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(d))
    jit.write_source("x = 1\n")
    os.chmod(d, mode)  # e.g. after `chmod 777`: anyone may have planted files since
    with pytest.raises(jit.CacheError) as e:
        jit.write_source("x = 2\n")
    msg = str(e.value)
    assert f"cache directory {d} is writable by group or others (mode {mode:04o})" in msg
    assert "pickles" in msg and f"rm -rf {d}" in msg and "ADJOINT_CACHE_DIR" in msg
    assert stat.S_IMODE(d.stat().st_mode) == mode  # left as found
    assert len(list(d.glob("adjoint_*.py"))) == 1  # x = 2 was not written


def test_writable_entries_under_an_enterable_cache_dir_are_refused(tmp_path, monkeypatch):
    d = tmp_path / "c"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(d))
    jit.write_source("x = 1\n")
    index = d / "__pycache__" / "adjoint_x.f-1.py311.nbi"  # a Numba index file: a pickle
    index.parent.mkdir()
    index.write_bytes(b"")
    os.chmod(index, 0o666)
    jit.cache_dir()  # 0700: no one else can reach the file, whatever its mode
    os.chmod(d, 0o755)  # others may now enter (not write) the directory: the file is open
    with pytest.raises(jit.CacheError, match=r"adjoint_x\.f-1\.py311\.nbi in the cache is "
                       r"writable by group or others \(mode 0666\)"):
        jit.cache_dir()
    os.chmod(index, 0o644)
    os.chmod(index.parent, 0o777)
    with pytest.raises(jit.CacheError, match=r"__pycache__ in the cache is writable"):
        jit.cache_dir()
    os.chmod(index.parent, 0o755)
    assert jit.cache_dir() == d


def test_symbolic_link_in_the_cache_is_refused(tmp_path, monkeypatch):
    d = tmp_path / "c"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(d))
    jit.write_source("x = 1\n")
    (d / "adjoint_0.py").symlink_to(tmp_path / "elsewhere.py")
    with pytest.raises(jit.CacheError, match="adjoint_0.py in the cache is a symbolic link"):
        jit.cache_dir()


def test_files_are_named_by_content_and_tampering_is_undone(tmp_path, monkeypatch):
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path))
    src = "VALUE = 41 + 1\n"
    path = jit.write_source(src)
    assert path.name == f"adjoint_{jit.digest(src)}.py"
    path.write_text("import os\nVALUE = 'foreign code'\n")  # someone edits the cache
    mod = jit.load(src, jit=False)
    assert mod.VALUE == 42
    assert path.read_text() == src
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp_")]


def test_concurrent_writers_never_expose_partial_files(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        os.environ["ADJOINT_CACHE_DIR"] = {str(tmp_path)!r}
        from compiler import jit
        src = "X = '" + "a" * 200_000 + "'\\n"
        for _ in range(20):
            p = jit.write_source(src)
            assert p.read_text() == src
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_cache_dir_of_another_user_is_refused(tmp_path, monkeypatch):
    d = tmp_path / "other"
    d.mkdir(mode=0o700)
    os.chown(d, 12345, 12345)
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(d))
    with pytest.raises(jit.CacheError, match="another user"):
        jit.cache_dir()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_file_of_another_user_in_the_cache_is_refused(tmp_path, monkeypatch):
    d = tmp_path / "c"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(d))
    jit.write_source("x = 1\n")
    planted = d / "__pycache__"
    planted.mkdir(mode=0o755)
    os.chown(planted, 12345, 12345)  # planted while the directory was open, then chmod 700
    with pytest.raises(jit.CacheError, match="__pycache__ in the cache belongs to another user"):
        jit.write_source("x = 2\n")


def test_a_file_that_vanishes_during_the_check_is_not_an_error(tmp_path, monkeypatch):
    # Numba renames its temporary index files, and other processes write the cache while
    # this one checks it: a name listed, then gone, is nothing to refuse
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / "c"))
    d = jit.cache_dir()
    (d / "kept.py").write_text("x = 1\n")
    real_walk = os.walk

    def walk_listing_a_ghost(path):
        for root, dirs, files in real_walk(path):
            yield root, dirs, files + ["gone.nbi.tmp.123"]
    monkeypatch.setattr(jit.os, "walk", walk_listing_a_ghost)
    assert jit.cache_dir() == d
    os.chmod(d / "kept.py", 0o666)  # a real problem is still found
    os.chmod(d, 0o711)
    with pytest.raises(jit.CacheError, match="writable by group or others"):
        jit.cache_dir()
    os.chmod(d, 0o700)


SOFTMAX = textwrap.dedent("""
    import numpy as np
    from numba import njit
    from compiler.jit import ensure_numba
    ensure_numba()
    from runtime.functions import softmax
    print(njit(lambda x: softmax(x, 1))(np.zeros((1, 2)))[0, 0])
""")


def test_editing_a_runtime_kernel_starts_a_new_cache_for_the_kernels_calling_it(tmp_path):
    """Numba checks a cached function against its own file only: `softmax`
    (runtime/functions.py) compiles in `softmax_lines` (runtime/kernels.py). After an
    edit of kernels.py alone, the compiled softmax must be the new one, not the cached
    old one (compiler/numba_cache.py keys the runtime's cache by its sources)."""
    import shutil
    repo = tmp_path / "repo"
    for d in ("compiler", "runtime"):
        shutil.copytree(ROOT / d, repo / d, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, ADJOINT_CACHE_DIR=str(tmp_path / "cache"))

    def run():
        out = subprocess.run([sys.executable, "-c", SOFTMAX], env=env, cwd=repo,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return float(out.stdout.strip().splitlines()[-1])

    assert run() == 0.5
    kernels = repo / "runtime" / "kernels.py"
    text = kernels.read_text()
    assert text.count("out[i, k, j] /= s") == 1
    kernels.write_text(text.replace("out[i, k, j] /= s", "out[i, k, j] /= 2.0 * s"))
    assert run() == 0.25
