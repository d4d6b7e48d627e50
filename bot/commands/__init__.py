"""The commands' wiring, one module per group (as pipx's commands/): each function takes the
sections of the configuration it needs (bot.config.Loaded, handed in by `bot/cli.py`), reads the
files it needs, builds the edges (bot/commands/adapters.py) and runs a flow with typed values.
`bot/cli.py` parses the command line and imports a module here only when its command runs, so
`--version` and `plan` stay fast.
"""
