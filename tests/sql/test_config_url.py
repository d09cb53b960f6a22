"""``[cluster] sql_url`` is checked when the configuration loads: a clear error naming the field."""

from __future__ import annotations

import pytest

from nephoscope.config import ConfigError, load_config

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)


@pytest.mark.parametrize("url", ["postgresql+psycopg://nephoscope:secret@db/nephoscope",
                                 "mysql+pymysql://nephoscope@db:3306/nephoscope", ""])
def test_a_usable_url_loads(url: str) -> None:
    assert load_config(None, {"NEPHOSCOPE_CLUSTER_SQL_URL": url}).cluster.sql_url == url


@pytest.mark.parametrize(("url", "says"), [
    ("not a url", "not a database URL"),
    ("oracle://db/x", "'oracle' is not PostgreSQL"),
    ("postgresql+psycopg2://db/x", "psycopg driver"),
    ("mysql+mysqldb://db/x", "pymysql driver"),
])
def test_an_unusable_url_is_named(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match="sql_url") as refused:
        load_config(None, {"NEPHOSCOPE_CLUSTER_SQL_URL": url})
    assert says in str(refused.value)
