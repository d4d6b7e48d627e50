"""The commands' wiring, one module per group (as pipx's commands/): each function reads the
configuration and files it needs, builds the edges (bot/adapters.py) and runs a flow. `bot/cli.py`
parses the command line and imports a module here only when its command runs, so `--version`
and `plan` stay fast.
"""
