"""Errors that a person can act on: the CLI shows them as one line, the app
as a message, never as a traceback. Each core module's own error types
derive from HealthQAError."""


class HealthQAError(Exception):
    """Bad input or a request that cannot be met; the message says what to do."""


class CommandError(HealthQAError):
    """A command used wrongly, or asking for something that is not there."""
