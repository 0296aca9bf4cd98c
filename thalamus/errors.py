"""The one exception type thalamus raises for problems a user can fix."""


class ThalamusError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The command line prints the message as ``Error: <message>`` and exits with
    :attr:`exit_code` (2: bad input, refused before anything on disk changed).
    """

    exit_code = 2


class SpecError(ThalamusError):
    """A campaign spec that cannot be run; the message names file, key and fix."""


class SimulationError(ThalamusError):
    """A well whose simulation raised; the message names the well."""

    exit_code = 1
