"""``kinonb bench``: every argument after ``bench`` goes to the benchmark; the suite runs from a checkout and
from an installed package (``kinonb.bench``); missing optional dependencies stop it before any work."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from kinonb.cli import bench as cli_bench
from kinonb.cli import main

ROOT = Path(__file__).resolve().parents[2]

FAKE_SUITE = """import os, sys
print('BENCH TABLE', sys.argv[1:], os.getcwd())
"""


@pytest.fixture
def fake_suite(tmp_path, monkeypatch):
    """A checkout whose bench/run.py prints its arguments and cwd; the caller runs from another folder that
    has a bench/run.py of its own (which must not be the one run)."""
    root = tmp_path / "checkout"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "run.py").write_text(FAKE_SUITE)
    caller = tmp_path / "caller"
    (caller / "bench").mkdir(parents=True)
    (caller / "bench" / "run.py").write_text("print('WRONG SUITE')\n")
    monkeypatch.setattr(cli_bench, "BENCH_ROOT", root)
    monkeypatch.setattr(cli_bench, "BENCH_DEPS", (), raising=False)
    monkeypatch.chdir(caller)
    return caller


def test_options_after_bench_go_to_the_benchmark(capfd, fake_suite):
    assert main(["bench", "--quick"]) == 0
    out = capfd.readouterr().out
    assert f"BENCH TABLE ['--quick'] {fake_suite}" in out and "WRONG" not in out  # run from the caller's cwd
    assert main(["-q", "bench", "--quick", "--publish", "--out", "res", "-q"]) == 0
    assert "BENCH TABLE ['--quick', '--publish', '--out', 'res', '-q']" in capfd.readouterr().out
    assert main(["bench", "--", "--episodes", "10"]) == 0  # a leading -- is dropped
    assert "BENCH TABLE ['--episodes', '10']" in capfd.readouterr().out
    assert main(["bench"]) == 0 and "BENCH TABLE []" in capfd.readouterr().out


def test_bench_help_explains_the_pass_through(capsys):
    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Every argument after `bench` goes to the benchmark" in out
    assert "--quick" in out and "kinonb bench -- --help" in out and "kinonb[bench]" in out
    assert "[-q]" not in out.splitlines()[0]  # options after bench are the benchmark's


def test_benchmark_help_through_kinonb(capfd):
    assert main(["bench", "--", "--help"]) == 0
    out = capfd.readouterr().out
    assert "usage: python -m bench.run" in out and "--quick" in out and "--publish" in out


def test_no_suite(capfd, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_bench, "BENCH_ROOT", tmp_path)
    monkeypatch.setattr(cli_bench, "_installed_module", lambda: None, raising=False)
    assert main(["bench", "--quick"]) == 1 and "not available" in capfd.readouterr().err


def test_missing_dependencies_stop_kinonb_bench(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(cli_bench.subprocess, "call", lambda *a, **k: pytest.fail("the suite was started"))
    rc = main(["bench", "--quick"])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1
    missing = err.split("missing ", 1)[1].split(" (", 1)[0].split(", ")  # others too where the extra is absent
    assert {"matplotlib", "zarr"} <= set(missing) and "pip install 'kinonb[bench]'" in err


def _bench_run(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from bench import run as bench_run

    return bench_run


def test_missing_dependencies_stop_bench_run_before_any_file(capsys, monkeypatch, tmp_path):
    bench_run = _bench_run(monkeypatch)
    monkeypatch.setitem(sys.modules, "h5py", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    out = tmp_path / "results"
    rc = bench_run.main(["--quick", "--out", str(out), "--workdir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1
    missing = err.split("missing ", 1)[1].split(" (", 1)[0].split(", ")
    assert {"h5py", "pyarrow"} <= set(missing) and "pip install 'kinonb[bench]'" in err
    assert list(tmp_path.iterdir()) == []  # no output folder, no datasets
    assert set(bench_run.REQUIRED) == set(cli_bench.BENCH_DEPS)


def test_quick_profile(monkeypatch):
    """--quick is about a minute on 2 cores: small batches, short fast-loader runs, a few Push-T episodes."""
    bench_run = _bench_run(monkeypatch)
    args = bench_run.parse(["--quick"])
    assert (args.batch, args.pusht_episodes, args.scaling) == (32, 6, "1000,3000")
    assert bench_run.QUICK_RUN_TARGET_S <= 0.05
    full = bench_run.parse([])
    assert (full.batch, full.pusht_episodes, full.episodes, full.runs) == (256, None, 10_000, 5)


def test_every_bench_module_imports_its_siblings_relatively():
    """Installed, the folder is kinonb.bench: an absolute ``bench.x`` import would not resolve."""
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not [n for n in names if n == "bench" or n.startswith("bench.")], (path.name, names)


def test_pyproject_installs_bench_as_kinonb_bench():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"kinonb.bench": "bench"}
    found = [".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kinonb").rglob("__init__.py")]
    assert sorted(config["packages"]) == sorted(found + ["kinonb.bench"]), "list every package under kinonb/"


def _venv(tmp_path, *pip_args):
    venv = tmp_path / "venv"
    # --system-site-packages: numpy, numba, lz4 and setuptools come from here; --without-pip: this pip
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=300)
    py = venv / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", *pip_args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def _run(venv, tmp_path, *argv):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def _source_copy(dest: Path) -> Path:
    """What a build reads (pyproject.toml, README.md, kinonb/, bench/), copied so the build leaves ROOT alone."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for name in ("kinonb", "bench"):
        shutil.copytree(ROOT / name, dest / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def test_kinonb_bench_from_an_installed_package(tmp_path):
    """A real (non-editable) install: kinonb bench runs the installed kinonb.bench, not a checkout's bench/."""
    pytest.importorskip("setuptools", minversion="70.1")  # the build backend, with bdist_wheel built in
    venv = _venv(tmp_path, str(_source_copy(tmp_path / "src")))
    proc = _run(venv, tmp_path, "python", "-c", "import kinonb, kinonb.bench.run as r; "
                "print(kinonb.__file__); print(r.CHECKOUT, r.DEFAULT_OUT, r.PROG)")
    assert proc.returncode == 0, proc.stderr
    where, flags = proc.stdout.splitlines()
    assert where.startswith(str(venv)) and flags == "False kinonb-bench-results python -m kinonb.bench.run"
    proc = _run(venv, tmp_path, "kinonb", "bench", "--help")
    assert proc.returncode == 0 and "Every argument after `bench`" in proc.stdout, proc.stderr
    proc = _run(venv, tmp_path, "kinonb", "bench", "--", "--help")
    assert proc.returncode == 0 and "usage: python -m kinonb.bench.run" in proc.stdout, proc.stderr
    proc = _run(venv, tmp_path, "kinonb", "bench", "--quick", "--publish")
    assert proc.returncode == 2 and "source checkout" in proc.stderr, proc.stderr
    assert not (tmp_path / "kinonb-bench-results").exists()
