"""The commands' wiring, one module per group (as pipx's commands/): each function takes its
options (a dataclass of its module, built by `bot/cli.py` from the command line) and the
configuration (bot.config.Loaded, of which it asks for the sections it uses), reads the files it
needs, builds the edges (bot/commands/adapters.py) and runs a flow with typed values.
`bot/cli.py` parses the command line and imports a module here only when its command runs, so
`--version` and `plan` stay fast.
"""
