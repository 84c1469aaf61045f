"""`sockcheck check --server`: a user's server class or factory, as a target.

Bad values each give one line and exit status 2; a good class is checked with the kind of its
mix-in, the transport of its socket and the attributes it sets; a broken one is reported with
a replay script that re-imports it from any folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checker import cli

HERE = Path(__file__).parent
SERVERS = HERE / "user_servers.py"
FAST = ["--examples", "10", "--no-cover", "--confirm", "0"]


def one_line_exit_2(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["check", *args, *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sockcheck: ") and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no-colon", "expected MODULE:NAME or FILE.py:NAME"),
        ("user_servers.py:", "expected MODULE:NAME or FILE.py:NAME"),
        (":ThreadingServer", "expected MODULE:NAME or FILE.py:NAME"),
        ("user_servers.py:1Server", "expected MODULE:NAME or FILE.py:NAME"),
        ("missing_file.py:Server", "no such file"),
        ("no/such-module:Server", "neither a module name nor a .py file"),
        ("sockcheck_no_such_module:Server", "cannot import sockcheck_no_such_module: ModuleNotFoundError"),
        ("user_servers.py:Missing", "has no Missing"),
        ("user_servers.py:NotAServer", "NotAServer is not a socketserver server"),
        ("user_servers.py:NOT_CALLABLE", "neither a server class nor a factory: 3"),
        ("user_servers.py:returns_nothing", "returned NoneType, not a socketserver server"),
        ("user_servers.py:broken_factory", "cannot be built with"),
        ("user_servers.py:OwnHandler", "does not run the handler class it is given"),
    ],
)
def test_a_bad_server_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, spec: str, words: str
) -> None:
    monkeypatch.chdir(HERE)
    line = one_line_exit_2(capsys, "--server", spec)
    assert words in line, line
    assert str(HERE) not in line or spec.startswith("/"), line  # named as the user typed it


def test_a_server_bound_to_one_transport_refuses_another(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    line = one_line_exit_2(capsys, "--server", "user_servers.py:ThreadingServer", "--transport", "udp")
    assert "ThreadingServer serves tcp only" in line


def test_server_goes_with_a_module_not_with_impl(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_exit_2(capsys, "--target", "impl", "--server", f"{SERVERS}:ThreadingServer")
    assert "--server checks a class built on socketserver" in line


def check_json(tmp_path: Path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "result.json"
    status = cli.main(["check", *args, *FAST, "--json", str(out)])
    return status, json.loads(out.read_text())


@pytest.mark.parametrize(
    ("name", "kind", "transport", "klass"),
    [
        ("ThreadingServer", "thread", "tcp", "ThreadingServer"),
        ("ForkingUnixServer", "fork", "unix", "ForkingUnixServer"),
        ("app_server", "thread", "tcp", "AppServer"),  # a factory: its server's class is checked
        ("unix_factory", "thread", "unix-datagram", "ThreadingUnixDatagramServer"),
        ("Synchronous", "sync", "tcp", "Synchronous"),  # no mix-in: handled inside the call
    ],
)
def test_kind_and_transport_come_from_the_server(
    tmp_path: Path, name: str, kind: str, transport: str, klass: str
) -> None:
    status, data = check_json(tmp_path, "--server", f"{SERVERS}:{name}", "--transport", "all")
    assert status == 0, data
    [result] = data["results"]
    assert (result["kind"], result["transport"], result["server_class"]) == (kind, transport, klass)


def test_the_model_starts_with_the_attributes_the_class_sets(tmp_path: Path) -> None:
    """ThreadingHTTPServer's daemon_threads: the model's server starts daemonic too, so a close
    that does not wait for those threads is no violation (and is one for the plain class)."""
    from checker.driver import Driver
    from checker.run import server_attributes
    from checker.targets import resolve
    from model import Kind

    driver = Driver(resolve("stdlib", None, None, f"{SERVERS}:DaemonicServer"), deadline=1.0)
    try:
        info = driver.load()
    finally:
        driver.quit()
    assert dict(server_attributes(info, Kind.THREAD)) == {"block_on_close": True, "daemon_threads": True}
    assert server_attributes(info, Kind.FORK) == (("block_on_close", True),)  # no max_children to read
    status, _ = check_json(tmp_path, "--server", f"{SERVERS}:DaemonicServer", "--seed", "0")
    assert status == 0


def test_a_broken_subclass_is_found_and_its_replay_reimports_it_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replays = tmp_path / "replays"
    monkeypatch.chdir(HERE)  # the module form: imported from the check's folder
    status, data = check_json(
        tmp_path, "--server", "user_servers:CloseWithoutSuper", "--seed", "0", "--replay-dir", str(replays)
    )
    assert status == 1
    [result] = data["results"]
    broken = {f["guarantee"] for f in result["failures"] if "guarantee" in f}
    assert "close-waits" in broken, broken
    [script] = [p for p in replays.iterdir() if p.name.startswith("close-waits-")]
    assert "user_servers:CloseWithoutSuper" in script.read_text()
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr  # reproduced, from another folder
    assert "reproduced 1 of 1: close-waits" in done.stdout


@pytest.mark.parametrize("python", ["python2.7", "python3.6"])
def test_a_server_class_runs_in_another_interpreter(tmp_path: Path, python: str) -> None:
    from checker.interpreters import NoInterpreter, find

    try:
        find(python)
    except NoInterpreter as exc:
        pytest.skip(f"{python}: {exc}")
    status, data = check_json(tmp_path, "--target", python, "--server", f"{SERVERS}:ForkingUnixServer")
    assert status == 0, data
    assert data["results"][0]["profile"] == {"python2.7": "cpython-2.7", "python3.6": "cpython-3.6"}[python]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--server", f"{SERVERS}:ContractOfNothing"], "its contract makes shutdown() by halt()"),
        (["--server", f"{SERVERS}:ThreadingServer", "--contract", "shutdown=nope"], "by nope()"),
        (["--server", f"{SERVERS}:ThreadingServer", "--contract", "stop=shutdown"], "expected CALL=METHOD"),
        (["--contract", "shutdown=stop"], "--contract goes with --server"),
    ],
)
def test_a_bad_contract_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert words in one_line_exit_2(capsys, *args)


def test_a_contract_names_the_servers_own_stop_method(tmp_path: Path) -> None:
    """shutdown() is made by stop(): a stop() that waits for the loop passes, one that returns
    before the loop stopped breaks shutdown-stops-loop (seen: with the contract ignored, the
    second passes, since BaseServer.shutdown() is called instead)."""
    status, _ = check_json(tmp_path, "--server", f"{SERVERS}:StopServer", "--seed", "0")
    assert status == 0
    status, data = check_json(
        tmp_path, "--server", f"{SERVERS}:StopReturnsEarly", "--seed", "0", "--examples", "60"
    )
    assert status == 1
    broken = {f.get("guarantee") for f in data["results"][0]["failures"]}
    assert "shutdown-stops-loop" in broken, broken


def test_two_server_classes_keep_their_saved_examples_apart() -> None:
    """The database key names the class as given, not its folder (seen failing: one key for both)."""
    from checker.driver import Driver
    from checker.replay import checked
    from checker.targets import resolve

    def key(name: str) -> dict:
        return checked(Driver(resolve("stdlib", None, None, f"{SERVERS}:{name}"), deadline=1.0))

    assert key("ThreadingServer") != key("DaemonicServer")
    assert key("ThreadingServer")["server"] == f"{SERVERS}:ThreadingServer"
