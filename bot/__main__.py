"""`python -m bot`: the same as the `mirror-bot` command."""

from bot.cli import entry

raise SystemExit(entry())
