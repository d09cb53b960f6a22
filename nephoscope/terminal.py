"""What every ``nephoscope`` command shares at the terminal: help that shows flags as flags, one-line
errors for the failures an operator expects, tables that fit the terminal, and the API client the
commands that ask a server use.

* ``Command`` and ``Group``: typer's classes without the ``<bool>`` placeholder typer's rich help
  prints after a flag (``--demo <bool>`` reads as if it took a value).
* ``Failed`` and ``fail``: an expected failure (connection refused, 401, 404, a bad file) is one line
  on stderr and a non-zero exit, never a traceback (``Command`` and ``Group`` print it).
* ``table``: a rich table that fits 80 columns and wraps cells between words.
* ``api_get``: a GET to a Nephoscope server with a token, its failures as ``Failed``.

Imports nothing of nephoscope: domains' command lines (``logs.cli``) use it too.
"""

from __future__ import annotations

from typing import Any, NoReturn

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer import Exit
from typer.core import TyperCommand, TyperGroup


class Failed(Exception):
    """An expected failure: ``message`` is the one line to print, ``code`` the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class _Conventions:
    def get_params(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # typer would show "<bool>"
        return params

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except Failed as failure:  # one line on stderr, however the command was started
            Console(stderr=True, soft_wrap=True, highlight=False).print(
                f"[red]nephoscope: error:[/red] {escape(failure.message)}")
            raise Exit(failure.code) from None


class Command(_Conventions, TyperCommand):
    """A typer command: flags shown without a value placeholder, ``Failed`` as one line and an exit code."""


class Group(_Conventions, TyperGroup):
    """A typer group (an app with sub-commands), with the conventions of ``Command``."""


def fail(message: str, code: int = 1) -> NoReturn:
    raise Failed(message, code)


def table(*columns: str, title: str | None = None, right: tuple[str, ...] = (), whole: tuple[str, ...] = (),
          widths: dict[str, tuple[int | None, int | None]] | None = None) -> Table:
    """A table for an 80-column terminal (print it with ``soft_wrap=False``): light borders, cells
    wrapped between words (a word longer than its column is folded, never cut off); ``whole`` columns
    (ids to copy, numbers) stay on one line, ``right`` ones are right-aligned, ``widths`` gives some
    columns a (least, most) width."""
    made = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                 title_justify="left", header_style="bold")
    for column in columns:
        least, most = (widths or {}).get(column, (None, None))
        made.add_column(column, justify="right" if column in right else "left", no_wrap=column in whole,
                        overflow="fold", min_width=least, max_width=most)
    return made


def api_get(url: str, token: str | None, path: str, params: dict[str, Any] | None = None,
            timeout: float = 60) -> Any:
    """The JSON answer of ``GET url+path`` with ``X-Auth-Token``; every expected failure is ``Failed``
    with a line that says what to do."""
    import httpx

    if not token:
        fail("no token: pass --token, set NEPHOSCOPE_TOKEN, or run where var/admin-token is (make run)", 2)
    base = url.rstrip("/")
    try:
        response = httpx.get(base + path, params=params or {}, headers={"X-Auth-Token": token}, timeout=timeout,
                             trust_env=False)
    except httpx.ConnectError as error:
        fail(f"cannot connect to {base}: {_reason(error)} (is `nephoscope serve` running there? --url says where)")
    except httpx.TimeoutException:
        fail(f"{base} did not answer within {timeout:g} s")
    except httpx.HTTPError as error:
        fail(f"request to {base} failed: {_reason(error)}")
    if response.status_code == 401:
        fail(f"{base} refused the token ({_description(response)}): check --token or NEPHOSCOPE_TOKEN")
    if response.status_code >= 400:
        fail(f"{response.status_code} {response.reason_phrase}: {_description(response)}")
    try:
        return response.json()
    except ValueError:
        fail(f"{base}{path} answered something that is not JSON: is --url a Nephoscope server?")


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text.splitlines()[0][:200]


def _description(response: Any) -> str:
    try:
        return str(response.json().get("description") or response.text)[:300]
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase
