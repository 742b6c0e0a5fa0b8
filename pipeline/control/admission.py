"""What a camera added through the REST API may be: the control plane's policy, set in the config file.

A request that holds the API token must still not turn the pipeline against the machine it runs on. So a
camera added at run time may name its password only by a secret the operator listed in ``secrets`` (never an
environment variable or a file of its choosing), may use only the URL schemes in ``control.camera_schemes``,
may point only at ``control.camera_hosts`` (by default: anywhere but this machine's loopback, link-local,
multicast and unspecified addresses), and may open local files only with ``control.camera_files``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.config import CameraConfig, ControlConfig

logger = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class CameraAdmission:
    """The rules of :mod:`pipeline.control.admission`, built once from the config."""

    schemes: frozenset[str]
    hosts: tuple[str, ...]
    files: bool
    secret_names: frozenset[str]

    @classmethod
    def from_config(cls, control: ControlConfig, secret_names: Collection[str]) -> CameraAdmission:
        """The rules of ``control`` with the names of the config's secrets."""
        return cls(
            schemes=frozenset(s.lower() for s in control.camera_schemes),
            hosts=tuple(control.camera_hosts),
            files=control.camera_files,
            secret_names=frozenset(secret_names),
        )

    def refusal(self, camera: CameraConfig) -> str | None:
        """Why ``camera`` may not be added through the API, or None when it may."""
        credentials = camera.credentials
        if credentials is not None:
            if credentials.password_env is not None or credentials.password_file is not None:
                names = ", ".join(sorted(self.secret_names)) or "none"
                return (
                    "credentials.password_env and password_file are for the config file only; name one of "
                    f"the config's secrets instead (credentials.secret): {names}"
                )
            if credentials.secret is not None and credentials.secret not in self.secret_names:
                return f"credentials.secret {credentials.secret!r} is not one of the config's secrets"
        parts = urlsplit(camera.url)
        if not parts.scheme or "://" not in camera.url:
            return None if self.files else "url: local files are not allowed here (control.camera_files)"
        if parts.scheme.lower() not in self.schemes:
            return f"url: scheme {parts.scheme!r} is not allowed; allowed: {', '.join(sorted(self.schemes))}"
        host = parts.hostname
        if not host:
            return "url: no host"
        return self._host_refusal(host)

    def _host_refusal(self, host: str) -> str | None:
        addresses = _addresses(host)
        if not addresses:
            return f"url: host {host!r} does not resolve"
        if self.hosts:
            if host in self.hosts or all(any(_in(a, allowed) for allowed in self.hosts) for a in addresses):
                return None
            return f"url: host {host!r} is not in control.camera_hosts"
        for address in addresses:
            if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
                return f"url: host {host!r} is this machine or a local-only address ({address})"
        return None


def _addresses(host: str) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _in(address: IpAddress, allowed: str) -> bool:
    try:
        return address in ipaddress.ip_network(allowed, strict=False)
    except ValueError:  # a host name: only an exact match of the URL's host counts
        return False
