"""Finding interpreters by name, by path, on PATH and in a pyenv root, and skipping the broken."""

import os
import sys
from pathlib import Path

import pytest

from checker import cli
from checker.interpreters import NoInterpreter, discover, find
from checker.targets import BadTarget, resolve

RUNNING = tuple(sys.version_info[:3])


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A PATH with a broken shim, and a pyenv root with the running interpreter in it."""
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.99"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    version = tmp_path / "pyenv" / "versions" / "3.99.0" / "bin"
    version.mkdir(parents=True)
    (version / "python3.99").symlink_to(sys.executable)
    (version / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    return tmp_path


def test_a_name_passes_over_a_shim_that_does_not_answer(machine):
    found = find("python3.99")
    assert found.version == RUNNING
    assert found.path == str(machine / "pyenv" / "versions" / "3.99.0" / "bin" / "python3.99")


def test_discovery_counts_one_installation_once(machine):
    found = discover()
    assert [i.version for i in found] == [RUNNING]  # two links, one shim that fails: one interpreter


def test_discovery_takes_extra_paths_first(machine):
    (found,) = discover([sys.executable])
    assert found.path == sys.executable


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("python9.9", "no such interpreter on PATH or in a pyenv root"),
        ("/nonexistent/python", "no such file"),
        ("ruby", "expected impl, stdlib, a name such as python3.7, or a path"),
    ],
)
def test_a_missing_interpreter_is_named_with_its_reason(machine, name, why):
    with pytest.raises(NoInterpreter, match=why):
        find(name)


def test_a_file_that_is_not_an_interpreter(machine):
    with pytest.raises(NoInterpreter, match="does not run as a Python interpreter"):
        find(str(machine / "shims" / "python3.99"))


def test_resolve_names_the_interpreter_and_its_isolation(machine):
    target = resolve("python3.99", None)
    assert (target.source, target.isolation) == ("stdlib", ("-I",))
    assert os.path.samefile(target.python, sys.executable)
    impl = resolve("impl", None, "python3.99")
    assert (impl.source, impl.name) == ("package", "impl")
    with pytest.raises(BadTarget, match="--python goes with impl or stdlib"):
        resolve("python3.99", None, "python3.99")


def test_the_cli_says_one_line_and_exits_2(machine, capsys):
    assert cli.main(["check", "--target", "python9.9"]) == 2
    err = capsys.readouterr().err
    assert err == "sockcheck: --target python9.9: no such interpreter on PATH or in a pyenv root\n"
    assert cli.main(["check", "--target", "impl", "--python", "/nonexistent/python"]) == 2
    assert capsys.readouterr().err == "sockcheck: --python /nonexistent/python: no such file\n"


def test_old_interpreters_are_isolated_without_dash_i():
    from checker.interpreters import Interpreter

    assert Interpreter((2, 7, 18), "cpython", "/x", path="/x").isolation == ("-E", "-s")
    assert Interpreter((3, 6, 15), "cpython", "/x", path="/x").isolation == ("-I",)


def test_a_folder_on_path_that_cannot_be_read(machine, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join([str(machine / "missing"), str(Path(sys.executable).parent)]))
    assert RUNNING in [i.version for i in discover()]


@pytest.mark.parametrize(
    ("flag", "version"), [("--target", "2.6.9"), ("--python", "3.4.10"), ("--target", "3.5.10")]
)
def test_an_interpreter_too_old_for_the_agent_exits_2(tmp_path, capsys, flag, version):
    """A shim that answers the probe as an old CPython: refused before any agent is started."""
    shim = tmp_path / "python-old"
    shim.write_text(f"#!/bin/sh\necho 'cpython {version} {tmp_path}/python-old'\n")
    shim.chmod(0o755)
    args = ["check", "--target", str(shim)] if flag == "--target" else ["check", "--python", str(shim)]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (
        f"sockcheck: {flag} {shim}: cpython {version} is too old: "
        "the checker runs targets on 2.7 and on 3.6 or newer\n"
    )
