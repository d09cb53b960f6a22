"""Who wrote a line: the ``Source`` a batch comes from, and the component and OpenStack service
a file name, a syslog program name or a logger name stands for."""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVICES = frozenset((
    "nova", "neutron", "cinder", "glance", "keystone", "heat", "placement", "swift", "octavia", "ironic",
    "manila", "barbican", "designate", "magnum", "horizon", "aodh", "ceilometer", "gnocchi", "panko",
    "trove", "sahara", "zaqar", "senlin", "watcher", "masakari", "cyborg", "blazar", "mistral", "zun",
    "kuryr", "tacker", "vitrage", "monasca", "freezer", "cloudkitty", "murano", "skyline", "venus",
    "ovn", "openvswitch",
))
"""OpenStack services (and their dataplane) a component or logger name can name."""
_ALIASES = {"openstack_dashboard": "horizon", "ovs": "openvswitch", "ovsdb": "openvswitch", "swift-proxy": "swift"}


@dataclass(frozen=True)
class Source:
    """Where a batch comes from. Anything left out is read from the lines when they say it
    (Loghub's file-name prefix, a syslog envelope, a JSON record's hostname, the logger)."""

    service: str | None = None  # nova, neutron, ...
    component: str | None = None  # nova-compute, neutron-server, ...
    host: str | None = None
    region: str | None = None
    path: str | None = None  # the file; its name gives the component when not set
    utc_offset_s: int = 0  # the hosts' local time zone, for times written without one
    year: int | None = None  # for RFC 3164 syslog dates, which have none


def component_of(name: str | None) -> str | None:
    """``/var/log/nova/nova-api.log.1`` or ``nova-api.log.1.2017-05-16_13:53:08`` -> ``nova-api``."""
    if not name:
        return None
    base = name.rsplit("/", 1)[-1]
    base = re.split(r"\.log\b", base, maxsplit=1)[0]
    return base or None


def service_of(name: str | None, known_only: bool = False) -> str | None:
    """The OpenStack service a component (``nova-compute``) or logger (``neutron.agent.x``) names."""
    if not name:
        return None
    name = name.lower()
    if name in _ALIASES:
        return _ALIASES[name]
    first = re.split(r"[-._:\[]", name, maxsplit=1)[0]
    first = _ALIASES.get(first, first)
    if first in SERVICES:
        return first
    return None if known_only else first or None
