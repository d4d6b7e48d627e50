"""The environment enters once: bot/cli.py hands it to bot/config.py, and nothing else in bot/
reads it; skopeo runs with the environment config builds for it, without our secrets.

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
import os
import re
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import CHILD_VARIABLES, child_environment, load_config
from tests.conftest import MIRROR_PASSWORD, REPO_ROOT, Sandbox

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


# -- skopeo's environment ---------------------------------------------------------------------

SECRETS = {"GITHUB_TOKEN": "ghs_token_never_in_skopeo_1f2e",
           "MIRROR_AUTH_JSON": '{"auths": {"x": {"auth": "c2VjcmV0LWF1dGgtanNvbg=="}}}',
           "AWS_SECRET_ACCESS_KEY": "aws-secret-never-in-skopeo"}


def test_the_child_environment_is_the_listed_variables_only() -> None:
    env = {name: f"value of {name}" for name in CHILD_VARIABLES} | SECRETS | {
        "MIRROR_PASSWORD": "p", "MIRROR_USERNAME": "u", "REGISTRY_AUTH_FILE": "/auth.json",
        "PYTHONPATH": "/x", "LD_PRELOAD": "/evil.so"}
    assert child_environment(env) == {name: f"value of {name}" for name in CHILD_VARIABLES}
    assert child_environment({"PATH": "/bin"}) == {"PATH": "/bin"}


def recording_skopeo(folder: Path, dump: Path) -> str:
    """A PATH whose `skopeo` writes its environment to `dump`, then runs the real skopeo."""
    real = shutil.which("skopeo")
    assert real is not None
    folder.mkdir()
    script = folder / "skopeo"
    script.write_text(f"#!/bin/sh\nenv >> {dump}\necho ---- >> {dump}\nexec {real} \"$@\"\n")
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def environments(dump: Path) -> list[dict[str, str]]:
    return [dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
            for block in dump.read_text().split("----\n") if block.strip()]


def test_skopeo_gets_path_home_and_proxies_never_a_token(
        testbed: Sandbox, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the process entry, as a workflow runs it: a real sync and the doctor's version
    check, both with real skopeo (behind a recorder), from a parent holding secrets."""
    dump = tmp_path / "environments.txt"
    home, tmp, runtime = tmp_path / "home", tmp_path / "tmp", tmp_path / "runtime"
    for folder in (home, tmp, runtime):
        folder.mkdir()
    passed = {
        "PATH": recording_skopeo(tmp_path / "bin", dump), "HOME": str(home), "TMPDIR": str(tmp),
        "XDG_RUNTIME_DIR": str(runtime), "LANG": "C.UTF-8",
        # Unreachable proxies: loopback (the test bed) is never proxied, and NO_PROXY says so.
        "HTTPS_PROXY": "http://proxy.invalid:3128", "http_proxy": "http://proxy.invalid:3128",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "SSL_CERT_DIR": "/etc/ssl/certs",
    }
    env = testbed.env(**passed, **SECRETS)
    testbed.seed(name)
    assert main(["sync", f"docker.io/library/{name}:1.0"], env) == 0
    main(["doctor"], env)  # its verdict is test_doctor.py's; here, how it runs skopeo
    capsys.readouterr()
    seen = environments(dump)
    assert len(seen) >= 2  # the copy and `skopeo --version`
    for child in seen:
        assert {key: child.get(key) for key in passed} == passed
        leaked = [key for key, value in child.items()
                  if key.startswith(("GITHUB_", "MIRROR_", "AWS_")) or key in SECRETS
                  or any(secret in value for secret in (*SECRETS.values(), MIRROR_PASSWORD))]
        assert leaked == []
        assert set(child) <= {*CHILD_VARIABLES, "PWD", "OLDPWD", "SHLVL", "_"}  # sh adds these


def test_the_config_of_a_library_caller_builds_the_same_environment(testbed: Sandbox) -> None:
    config = load_config(testbed.env(GITHUB_TOKEN=SECRETS["GITHUB_TOKEN"], HOME="/home/x"))
    assert config.skopeo_environment["HOME"] == "/home/x"
    assert config.skopeo_environment["PATH"] == os.environ["PATH"]
    assert "GITHUB_TOKEN" not in config.skopeo_environment
    assert "MIRROR_PASSWORD" not in config.skopeo_environment
