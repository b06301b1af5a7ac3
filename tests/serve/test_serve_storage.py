"""``poolscale serve --storage-connection-string`` / ``$POOLSCALE_AUTOSTORAGE``: the account's
auto-storage account (what it does is tested on the account, tests/test_storage.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from served import Served


def serve(*args, env=None):
    return subprocess.run([sys.executable, "-m", "poolscale.runtime.cli", "serve", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_a_bad_connection_string_is_a_usage_error_that_does_not_show_it(tmp_path):
    secret = "BlobEndpoint=http://h;AccountKey=SECRETKEY"
    result = serve("--data", str(tmp_path / "d"), "--storage-connection-string", secret)
    assert (result.returncode, result.stdout) == (2, "")
    assert ("--storage-connection-string: a storage connection string needs AccountName and "
            "AccountKey") in result.stderr
    assert "SECRETKEY" not in result.stderr
    result = serve("--data", str(tmp_path / "d"), env={"POOLSCALE_AUTOSTORAGE": secret})
    assert result.returncode == 2
    assert ("POOLSCALE_AUTOSTORAGE: a storage connection string needs AccountName and "
            "AccountKey") in result.stderr
    assert "SECRETKEY" not in result.stderr


def test_a_good_connection_string_starts_the_server(tmp_path):
    served = Served(tmp_path / "d", "--storage-connection-string", "UseDevelopmentStorage=true")
    try:
        assert served.first_line.startswith("poolscale serve: endpoint=http://127.0.0.1:")
        assert "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq" not in \
            served.log_text()
    finally:
        assert served.stop() == 0
