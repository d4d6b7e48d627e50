"""The project's own error types: everything user input can trigger derives from MirrorBotError."""


class MirrorBotError(Exception):
    """Base class for errors the bot reports to users instead of crashing."""


class InvalidReference(MirrorBotError):
    """An image reference that does not follow the distribution reference grammar."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(reason)
        self.text = text
        self.reason = reason


class ConfigError(MirrorBotError):
    """Bad configuration: allowlist, naming template, environment."""
