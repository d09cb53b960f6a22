"""Reading points back through the Monasca API, as the ingest tests of other wire formats do."""

from __future__ import annotations

import httpx

START = "2000-01-01T00:00:00Z"


def measurements(client: httpx.Client, name: str, **dimensions: str) -> list[tuple[str, float]]:
    """(timestamp, value) of every point of the series named ``name`` with these dimensions, merged
    and in time order."""
    params = {"name": name, "start_time": START, "merge_metrics": "true"}
    if dimensions:
        params["dimensions"] = ",".join(f"{k}:{v}" for k, v in dimensions.items())
    response = client.get("/v2.0/metrics/measurements", params=params)
    assert response.status_code == 200, response.text
    return sorted((row[0], row[1]) for element in response.json()["elements"] for row in element["measurements"])


def values(client: httpx.Client, name: str, **dimensions: str) -> list[float]:
    """The values of ``measurements``, in time order."""
    return [value for _, value in measurements(client, name, **dimensions)]
