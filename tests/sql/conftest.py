"""``sql_url`` and ``metadata_dir``: every test here runs on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from nephoscope.sql import bind
from tests.conftest import missing
from tests.support.sql import BACKENDS, empty, session_database


@pytest.fixture(scope="session")
def _server_databases() -> Iterator[dict[str, str | Exception]]:
    """One fresh database per server for the whole session (or the error that prevented it)."""
    urls: dict[str, str | Exception] = {}
    contexts = []
    for backend in BACKENDS[1:]:
        context = session_database(backend)
        try:
            urls[backend] = context.__enter__()
            contexts.append(context)
        except sa.exc.OperationalError as error:
            urls[backend] = error
    yield urls
    for context in contexts:
        context.__exit__(None, None, None)


@pytest.fixture(params=BACKENDS)
def sql_url(request: pytest.FixtureRequest, _server_databases: dict[str, str | Exception]) -> str:
    """"" for SQLite (the files under the data dir), else an emptied server database's URL."""
    if request.param == "sqlite":
        return ""
    url = _server_databases[request.param]
    if isinstance(url, Exception):
        missing(f"no {request.param} server ({str(url).splitlines()[0]})",
                "start PostgreSQL on 127.0.0.1:5432 (trust) and MariaDB on 127.0.0.1:3306 (root, no password)")
    empty(url)
    return url


@pytest.fixture
def metadata_dir(tmp_path: Path, sql_url: str) -> Iterator[Path]:
    """A data dir whose metadata lives in ``sql_url`` (SQLite files in it when that is "")."""
    bind(tmp_path, sql_url)
    yield tmp_path
    bind(tmp_path, "")
