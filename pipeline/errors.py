"""One exception hierarchy for camfleet.

Every error camfleet raises on purpose derives from :class:`CamfleetError`, so a CLI entry point can
catch it, print its message (which says what to do next) and exit with code 1.
"""


class CamfleetError(Exception):
    """Base class of every error camfleet raises on purpose."""


class ConfigError(CamfleetError):
    """A configuration file or value is invalid (the message names the key path)."""


class ModelError(CamfleetError):
    """A model family is unknown, misconfigured or cannot be built or exported."""


class ServingError(CamfleetError):
    """The Triton server could not be started, or a model in it failed to load."""


class InferenceError(CamfleetError):
    """A request to Triton failed (bad input, unknown model, server down after retries)."""


class ServerUnavailableError(InferenceError):
    """A Triton server did not answer (down, restarting, or past its deadline): another one may."""


class StreamError(CamfleetError):
    """A camera stream could not be opened or read."""


class EventsError(CamfleetError):
    """The events stage could not start (Redis unreachable for a CLI verb, embedded server failed)."""
