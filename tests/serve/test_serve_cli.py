"""``poolscale serve`` as a command: its first line, its refusals, a clean stop."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from poolscale.runtime.commands.serve import DEV_KEY
from served import Served


def serve(*args):
    return subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "serve", *args],
                          capture_output=True, text=True, timeout=60)


def test_the_first_line_names_endpoint_account_and_key(server):
    assert server.first_line == (f"poolscale serve: endpoint={server.endpoint} "
                                 f"account=poolscale key={DEV_KEY}")
    assert server.endpoint.startswith("http://127.0.0.1:")


def test_a_given_key_is_not_printed(tmp_path):
    key = "QUJD" * 22
    served = Served(tmp_path / "d", account="myaccount", key=key)
    try:
        assert served.first_line.endswith(" account=myaccount key=(given)")
        assert key not in served.first_line
    finally:
        served.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_it_cleanly(tmp_path, sig):
    served = Served(tmp_path / "d")
    assert served.stop(sig) == 0
    assert "Traceback" not in served.log_text()


@pytest.mark.parametrize("args,message", [
    (["--host", "0.0.0.0"], "--host 0.0.0.0: the development key is public; give --account "
                            "and --key to listen on an address other than loopback"),
    (["--account", "abc"], "--account and --key go together"),
    (["--account", "abc", "--key", "not base64!"], "--key: the account key must be base64"),
    (["--account", "A!", "--key", "QUJD"], "--account: an account name has 3 to 24 characters"),
    (["--min-evaluation-interval", "PT1H"], "--min-evaluation-interval: must lie in [PT1S, PT5M]"),
    (["--min-recurrence-interval", "PT2M"], "--min-recurrence-interval: must lie in [PT1S, PT1M]"),
    (["--port", "70000"], "--port: must be from 0 to 65535, got 70000"),
    (["--account", "abc", "--key", ""], "--key: the key is empty"),
    (["--data", "/dev/null"], "--data /dev/null: cannot keep the account's state there: Not a "
                              "directory"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    result = serve("--data", str(tmp_path / "d"), "--port", "0", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_port_in_use_is_a_usage_error(server, tmp_path):
    port = server.endpoint.rsplit(":", 1)[1]
    result = serve("--data", str(tmp_path / "d2"), "--port", port)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_data_directory_holding_something_else_is_a_usage_error(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "poolscale.db").write_bytes(b"not a database" * 100)
    result = serve("--data", str(tmp_path / "d"), "--port", "0")
    assert result.returncode == 2
    assert "poolscale.db: not a poolscale store" in result.stderr
    assert "Traceback" not in result.stderr


def test_answers_are_not_held_back_by_nagle():
    # a small answer on a kept-alive connection otherwise waits ~40 ms for the client's delayed
    # ACK (get_pool through the SDK: p50 47.7 ms without, 4.1 ms with, on a 2-core machine)
    import socket

    from poolscale.runtime.commands.serve import _listen

    sock = _listen("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()
