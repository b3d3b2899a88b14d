"""Who may reach the UI: loopback by default, any other address only with `--auth user:password`. Standard library
only, so `lmms ui` refuses a bad bind at once, before the app's imports."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """`user:password` as a pair; None without --auth; ValueError for anything else."""
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth takes user:password (both non-empty)")
    return user, password


def _option(argv: list[str], name: str) -> str | None:
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def bind_problem(argv: list[str]) -> str | None:
    """Why `lmms ui` with these arguments must not start (a public bind without credentials, bad credentials)."""
    return check_bind(_option(argv, "--host") or "127.0.0.1", _option(argv, "--auth"))


def check_bind(host: str, auth: str | None) -> str | None:
    try:
        creds = parse_auth(auth)
    except ValueError as e:
        return str(e)
    if creds is None and not is_loopback(host):
        return (
            f"refusing to serve on {host} without --auth user:password: anyone who reaches that address could start "
            "jobs and read your data. Bind 127.0.0.1 (the default) and reach it through an SSH tunnel, or pass --auth."
        )
    return None
