"""`poolscale serve`: a local Azure Batch account behind the Batch REST API."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys

from ..cli import EXIT_OK, HelpFormatter, UsageError

#: the well-known development account, as Azurite has devstoreaccount1: anyone may know it, so
#: it is refused on any address but loopback
DEV_ACCOUNT = "poolscale"
DEV_KEY = "tF570VO4V94EoncA48TTWV0OV9WZFKUd1T1RX1gxf34EuMsyubBmJvabRHRHAAdQt1BRzTMu+7QK9rOKUV+yZQ=="
DEFAULT_PORT = 8765


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve", help="run a local Azure Batch account that the azure-batch SDK and az batch use",
        description="Start a Batch account on this machine behind the Azure Batch REST API "
                    "(data plane): pools of local nodes, jobs, tasks run as processes, state "
                    "kept under --data so a restart continues where the last run stopped. "
                    "Point the official azure-batch SDK or az batch at the endpoint that the "
                    "first line prints, with that account name and key; nothing else in your "
                    "code changes. Every request is checked against the shared key.",
        epilog="Without --account and --key the well-known development account is used "
               f"(account {DEV_ACCOUNT}, the key in docs/serve.md), which is refused on any "
               "address but loopback. The first line on standard output is\n"
               "    poolscale serve: endpoint=http://127.0.0.1:8765 account=NAME key=BASE64\n"
               "(key=(given) when you gave --key). Ctrl-C or SIGTERM stops the server; running "
               "tasks are requeued at the next start. See docs/serve.md.\n"
               "Exit status: 0 stopped cleanly; 2 usage error (bad option, address in use, "
               "development key on a non-loopback address).",
        formatter_class=HelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one, "
                        "which the first line names)")
    p.add_argument("--data", default=".poolscale", metavar="DIR",
                   help="directory of the account's state and of its nodes' directories "
                        "(default .poolscale)")
    p.add_argument("--account", metavar="NAME",
                   help="account name: 3 to 24 lowercase letters and digits (with --key)")
    p.add_argument("--key", metavar="BASE64",
                   help="the account's shared key, base64 (with --account)")
    p.add_argument("--min-evaluation-interval", metavar="DURATION",
                   help="development setting: the lowest autoscale evaluation interval a pool "
                        "may ask for, from PT1S to PT5M (default PT5M, the service's floor); "
                        "e.g. PT10S or 10s")
    p.add_argument("--min-recurrence-interval", metavar="DURATION",
                   help="development setting: the lowest startWindow and recurrenceInterval a "
                        "job schedule may ask for, from PT1S to PT1M (default PT1M, the service's "
                        "floor); e.g. PT2S or 2s")
    p.add_argument("--dedicated-core-quota", type=int, metavar="N",
                   help="the account's dedicated core quota (default: this machine's cores x 4); "
                        "0 allocates no dedicated node, as on an account without quota")
    p.add_argument("--low-priority-core-quota", type=int, metavar="N",
                   help="the account's Spot/low-priority core quota (same default)")
    p.add_argument("--storage-connection-string", metavar="TEXT",
                   help="the connection string of the account's auto-storage account, from "
                        "which autoStorageContainerName resource files are downloaded "
                        "(default: $POOLSCALE_AUTOSTORAGE, which keeps the key out of the "
                        "process list; without either, such tasks are refused)")
    p.add_argument("--provider", choices=["local"], default="local",
                   help="where nodes run: local (directories and processes on this machine)")
    p.set_defaults(handler=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from poolscale.runtime.service.local.storage import AUTOSTORAGE_ENV, auto_storage_setting
    from poolscale.runtime.service.rest.auth import decode_key
    from poolscale.runtime.service.settings import AccountSettings, SettingsError

    if (args.account is None) != (args.key is None):
        raise UsageError("--account and --key go together: give both, or neither for the "
                         "development account")
    name = DEV_ACCOUNT if args.account is None else args.account
    key_text = DEV_KEY if args.key is None else args.key
    if key_text == DEV_KEY and not _loopback(args.host):
        raise UsageError(f"--host {args.host}: the development key is public; give --account "
                         "and --key to listen on an address other than loopback")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: must be from 0 to 65535, got {args.port}")
    try:
        key = decode_key(key_text)
    except ValueError as e:
        raise UsageError(f"--key: {e}") from None
    if not key:
        raise UsageError("--key: the key is empty")
    settings_args = {"name": name, "data_dir": args.data}
    for interval in ("min_evaluation_interval", "min_recurrence_interval"):
        if getattr(args, interval) is not None:
            settings_args[interval] = getattr(args, interval)
    for quota in ("dedicated_core_quota", "low_priority_core_quota"):
        if getattr(args, quota) is not None:
            settings_args[quota] = getattr(args, quota)
    storage = auto_storage_setting(args.storage_connection_string)
    if storage is not None:
        settings_args["auto_storage"] = storage
    try:
        settings = AccountSettings(**settings_args)
    except SettingsError as e:
        option = "--" + {"name": "account", "data_dir": "data"}.get(
            e.field, e.field.replace("_", "-"))
        if e.field == "auto_storage":
            option = ("--storage-connection-string" if args.storage_connection_string
                      else AUTOSTORAGE_ENV)
        reason = str(e).split(": ", 1)[-1]
        raise UsageError(f"{option}: {reason}") from None
    sock = _listen(args.host, args.port)
    return _serve(sock, settings, name, key, key_shown="(given)" if args.key is not None else key_text)


def _listen(host: str, port: int):
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # answers go out at once: without it a small answer on a kept-alive connection can wait
    # ~40 ms for the client's delayed ACK (Nagle); accepted sockets inherit it on Linux
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(512)
    return sock


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that a SIGINT or SIGTERM that stopped it is not raised
        again once it has shut down: for ``poolscale serve`` they are the way to stop it, and
        it exits 0 after a clean stop (uvicorn re-raises them, which makes the exit status
        130 or a death by SIGTERM)."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


def _serve(sock, settings, name: str, key: bytes, *, key_shown: str) -> int:
    import dataclasses
    import sqlite3

    import uvicorn

    from poolscale.runtime.service.account import Account
    from poolscale.runtime.service.store import StoreError
    from poolscale.runtime.service.rest.app import build_app

    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    endpoint = f"http://{shown_host}:{port}"
    settings = dataclasses.replace(settings, account_url=endpoint)
    try:
        account = Account(settings=settings)
    except StoreError as e:
        sock.close()
        raise UsageError(f"--data: {e}") from None
    except (OSError, sqlite3.Error) as e:
        sock.close()
        reason = getattr(e, "strerror", None) or str(e)
        raise UsageError(f"--data {settings.data_dir}: cannot keep the account's state there: "
                         f"{reason}") from None
    try:
        app = build_app(account, account_name=name, key=key)
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                timeout_graceful_shutdown=5)
        server = _server_class()(config)

        def stop_early(sig, frame) -> None:       # a signal before uvicorn takes them over
            server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop_early)
        print(f"poolscale serve: endpoint={endpoint} account={name} key={key_shown}", flush=True)
        for note in account.notes:
            print(f"poolscale serve: note: {note}", file=sys.stderr, flush=True)
        server.run(sockets=[sock])
    finally:
        account.close()
        sock.close()
    return EXIT_OK
