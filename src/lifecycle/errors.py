"""The one exception type the CLI turns into a clear one-line message and a non-zero exit."""


class LifecycleError(Exception):
    """A failure the user can act on: the message names what is wrong and where to look."""

    exit_code = 1


class GateFailed(LifecycleError):
    """A quality gate stopped the run; the last good publication stays in place."""

    exit_code = 2


class InputError(LifecycleError, ValueError):
    """Arguments or files a command cannot work with (a ValueError too, for library callers)."""
