"""The environment enters once: bot/cli.py hands it to bot/config.py, and nothing else in bot/
reads it; the environment config builds for skopeo holds what skopeo needs and none of our
secrets (that skopeo really gets it: tests/integration/test_environment.py).

The rule the scan below enforces, over every module of bot/ except bot/cli.py and
bot/config.py (their AST, so comments and strings do not count):

1. No use of the process environment: no attribute named `environ`, `environb`, `getenv`,
   `getenvb`, `putenv`, `unsetenv`, `expanduser` or `expandvars` (whatever it is looked up on:
   `os.environ`, `os.path.expanduser`, `Path(...).expanduser()`), no `Path.home`, and no
   `from os import ...` / `from os.path import ...` of those names.
2. No function takes the environment as a parameter: no parameter (positional, keyword-only,
   `*args` or `**kwargs`, of a function or a lambda) whose name, leading underscores dropped,
   is `env`, `environ` or `environment` or ends in `_env`, `_environ` or
   `_environment`; and none annotated with a name `Env`, `Environ` or `_Environ` (the aliases
   an environment mapping goes by), wherever that name appears in the annotation.

A field named `environment` is allowed (bot/registry/skopeo.py's `Skopeo.environment` holds the
child's environment config built, a value): it is not a parameter of a function in the source.
"""

from __future__ import annotations

import ast
import re

import pytest

from bot.config import CHILD_VARIABLES, child_environment
from tests.fixtures import REPO_ROOT

BOT = REPO_ROOT / "bot"


ALLOWED = {BOT / "cli.py", BOT / "config.py"}


ENVIRONMENT_ATTRIBUTES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv",
                                    "unsetenv", "expanduser", "expandvars"})


ENVIRONMENT_PARAMETER = re.compile(r"(?:env|environ|environment|\w+_env|\w+_environ|"
                                   r"\w+_environment)")


ENVIRONMENT_TYPES = frozenset({"Env", "Environ", "_Environ"})


def environment_uses(source: str) -> list[str]:
    """Where `source` reads the environment or takes it as a parameter, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and (
                node.attr in ENVIRONMENT_ATTRIBUTES
                or (node.attr == "home" and isinstance(node.value, ast.Name)
                    and node.value.id == "Path")):
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "os.path"}:
            found += [f"{node.lineno}: from {node.module} import {alias.name}"
                      for alias in node.names if alias.name in ENVIRONMENT_ATTRIBUTES]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = node.args
            parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                          *(a for a in (arguments.vararg, arguments.kwarg) if a is not None)]
            for parameter in parameters:
                named = ENVIRONMENT_PARAMETER.fullmatch(parameter.arg.lstrip("_").lower())
                typed = parameter.annotation is not None and any(
                    (isinstance(n, ast.Name) and n.id in ENVIRONMENT_TYPES)
                    or (isinstance(n, ast.Attribute) and n.attr in ENVIRONMENT_TYPES)
                    or (isinstance(n, ast.Constant) and isinstance(n.value, str)
                        and ENVIRONMENT_TYPES & set(re.findall(r"\w+", n.value)))
                    for n in ast.walk(parameter.annotation))
                if named or typed:
                    found.append(f"{parameter.lineno}: parameter {parameter.arg}")
    return found


def test_only_the_entry_and_config_see_the_environment() -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): uses
        for path in sorted(BOT.rglob("*.py")) if path not in ALLOWED
        if (uses := environment_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_config_is_where_the_environment_is_read() -> None:
    """The exemption is used, not just granted: config reads what cli hands it."""
    assert environment_uses((BOT / "config.py").read_text())  # `env` parameters, expanduser
    assert ".environ" in " ".join(environment_uses((BOT / "cli.py").read_text()))


@pytest.mark.parametrize(("source", "caught"), [
    ("import os\nos.environ.get('X')", "2: .environ"),
    ("import os\nos.getenv('X')", "2: .getenv"),
    ("from os import environ", "1: from os import environ"),
    ("from os.path import expanduser", "1: from os.path import expanduser"),
    ("import os\nos.path.expanduser('~')", "2: .expanduser"),
    ("from pathlib import Path\nPath('~').expanduser()", "2: .expanduser"),
    ("from pathlib import Path\nPath.home()", "2: .home"),
    ("def f(env): pass", "1: parameter env"),
    ("def f(*, _environ=None): pass", "1: parameter _environ"),
    ("def f(process_env): pass", "1: parameter process_env"),
    ("def f(**process_environment): pass", "1: parameter process_environment"),
    ("f = lambda environment: 0", "1: parameter environment"),
    ("def f(values: Env): pass", "1: parameter values"),
    ("def f(values: 'Mapping[str, Env]'): pass", "1: parameter values"),
    ("def f(values: os._Environ[str]): pass", "1: parameter values"),
])
def test_the_scan_catches_each_form(source: str, caught: str) -> None:
    assert environment_uses(source) == [caught]


@pytest.mark.parametrize("source", [
    "def _environment(language): pass",  # a function's own name
    "class Skopeo:\n    environment: Mapping[str, str] | None = None",  # a field, a value
    "def f(environments_seen, envelope, inventory, variables): pass",  # GraphQL's variables
    "def f(mapping: Mapping[str, str]): pass",  # a mapping not named like the environment
])
def test_the_scan_leaves_values_alone(source: str) -> None:
    assert environment_uses(source) == []


SECRETS = {"GITHUB_TOKEN": "ghs_token_never_in_skopeo_1f2e",
           "MIRROR_AUTH_JSON": '{"auths": {"x": {"auth": "c2VjcmV0LWF1dGgtanNvbg=="}}}',
           "AWS_SECRET_ACCESS_KEY": "aws-secret-never-in-skopeo"}


def test_the_child_environment_is_the_listed_variables_only() -> None:
    env = {name: f"value of {name}" for name in CHILD_VARIABLES} | SECRETS | {
        "MIRROR_PASSWORD": "p", "MIRROR_USERNAME": "u", "REGISTRY_AUTH_FILE": "/auth.json",
        "PYTHONPATH": "/x", "LD_PRELOAD": "/evil.so"}
    assert child_environment(env) == {name: f"value of {name}" for name in CHILD_VARIABLES}
    assert child_environment({"PATH": "/bin"}) == {"PATH": "/bin"}
