"""Registry of scheduler policies: ``type`` name -> factory, refusing duplicates.

Policies register with :func:`register_policy`; :func:`build_policy` builds one from its config. Importing
:mod:`pipeline.scheduler` fills the registry. This table is the one module global changed after import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from pipeline.errors import ConfigError
from pipeline.scheduler.base import Policy
from pipeline.scheduler.config import PolicyConfig

logger = logging.getLogger(__name__)

PolicyFactory = Callable[..., Policy]
"""Takes the policy's config model and returns the policy."""

F = TypeVar("F", bound=PolicyFactory)

_POLICIES: dict[str, PolicyFactory] = {}


def register_policy(type_name: str) -> Callable[[F], F]:
    """Decorator that registers a policy factory (usually the class) under ``type_name``.

    Args:
        type_name: The config's ``type:`` value, e.g. ``"brightness"``.

    Raises:
        ConfigError: if ``type_name`` is already registered.
    """

    def decorate(factory: F) -> F:
        if type_name in _POLICIES:
            raise ConfigError(f"scheduler policy {type_name!r} is already registered")
        _POLICIES[type_name] = factory
        return factory

    return decorate


def get_policy(type_name: str) -> PolicyFactory:
    """Return the factory registered as ``type_name``.

    Raises:
        ConfigError: if no such policy exists (the message lists the known ones).
    """
    try:
        return _POLICIES[type_name]
    except KeyError:
        known = ", ".join(sorted(_POLICIES)) or "none (import pipeline.scheduler)"
        raise ConfigError(f"unknown scheduler policy {type_name!r}; known: {known}") from None


def list_policies() -> list[str]:
    """Names of all registered policies, in registration order."""
    return list(_POLICIES)


def build_policy(config: PolicyConfig | object) -> Policy:
    """Build the policy that ``config`` (a validated policy config model, or a plug-in's) describes.

    Raises:
        ConfigError: if ``config.type`` is not a registered policy.
    """
    type_name = getattr(config, "type", None)
    if not isinstance(type_name, str):
        raise ConfigError(f"a policy config needs a 'type' field, got {type(config).__name__}")
    return get_policy(type_name)(config)
