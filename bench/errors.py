"""The one error type the CLI turns into a single clear line and a non-zero exit."""


class BenchError(Exception):
    """A user-facing problem: say what is wrong and where (file, field, option, command)."""

    exit_code = 2
