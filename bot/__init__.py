"""mirror-bot: mirror container images requested through GitHub issues."""

__version__ = "0.1.0"
