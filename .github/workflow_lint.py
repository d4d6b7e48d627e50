"""Workflow lint: the checks of actionlint's kind this repository relies on, in plain Python.

Rule: every reference a workflow or action makes resolves, and every expression parses.
- workflow-call: a job's `uses:` is `./.github/workflows/F.yml`, `$/.github/workflows/F.yml` (GitHub's
  self-repository form) or `owner/repo/.github/workflows/F.yml@ref`; a local callee exists, is
  triggered by `workflow_call`, and declares every input and secret passed (required ones given).
- action: a step's `uses:` is `owner/repo[/path]@ref`, `./path` or `$/path` (an action.yml there), or
  `docker://image`.
- needs: `needs:` names jobs of the same workflow, without a cycle.
- expression: `${{ }}` and `if:` parse, use known contexts and functions, and name only declared
  `inputs.*`, step ids of the same job and jobs listed in `needs:`.
- run: no `${{ }}` inside `run:` (values reach scripts through `env:`); composite steps set `shell`.
Prints `file:line: message [rule]`; exit 0 clean, 1 problems. Upstream actionlint cannot be installed
offline from PyPI, npm or Debian, and its offline builds predate the `$/` form (see the report).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from workflow_expressions import ExpressionError, parse

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
REMOTE_WORKFLOW = re.compile(r"[\w.-]+/[\w.-]+/\.github/workflows/[^/@\s]+\.ya?ml@[^@\s]+")
LOCAL_WORKFLOW = re.compile(r"(?:\./|\$/)(\.github/workflows/[^/@\s]+\.ya?ml)")
REMOTE_ACTION = re.compile(r"[\w.-]+/[\w.-]+(?:/[^@\s]+)?@[^@\s]+")
LOCAL_ACTION = re.compile(r"(?:\./|\$/)([^@\s]+)")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} [{self.rule}]"


# --- YAML with line numbers --------------------------------------------------------------------

def _pairs(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): (key, value) for key, value in node.value}


def _scalars(node: yaml.Node | None) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if isinstance(node, yaml.SequenceNode):
        return [str(item.value) for item in node.value if isinstance(item, yaml.ScalarNode)]
    return list(_pairs(node))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _strings(node: yaml.Node, key: str = "") -> Iterator[tuple[str, yaml.ScalarNode]]:
    """Every scalar under `node`, with the key it is the value of."""
    if isinstance(node, yaml.ScalarNode):
        yield key, node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _strings(item, key)
    elif isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            yield from _strings(value, str(name.value))


def _walk(tree: tuple) -> Iterator[tuple]:
    yield tree
    for part in tree[1:]:
        if isinstance(part, tuple) and part and isinstance(part[0], str):
            yield from _walk(part)
        elif isinstance(part, tuple):
            for item in part:
                yield from _walk(item)


def _declared(node: yaml.Node | None, section: str) -> dict[str, bool]:
    """Names declared under `section` (inputs/secrets) of a trigger or action, with `required`."""
    declared = {}
    for name, (_, spec) in _pairs(_pairs(node).get(section, (None, None))[1]).items():
        fields = {key: str(value.value) for key, (_, value) in _pairs(spec).items()
                  if isinstance(value, yaml.ScalarNode)}
        declared[name] = fields.get("required") == "true" and "default" not in fields
    return declared


def _trigger(document: yaml.Node, event: str) -> yaml.Node | None:
    """The node of trigger `event` (an empty mapping when named without settings), or None."""
    on = _pairs(document).get("on", (None, None))[1]
    if isinstance(on, yaml.MappingNode):
        found = _pairs(on).get(event)
        return found[1] if found else None
    return yaml.MappingNode("tag:yaml.org,2002:map", []) if event in _scalars(on) else None


@dataclass(frozen=True)
class Scope:
    """What an expression at one place may name."""

    inputs: frozenset[str]
    steps: frozenset[str] = frozenset()
    needs: frozenset[str] = frozenset()


@dataclass
class Linter:
    root: Path
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: Path, node: yaml.Node, message: str, rule: str) -> None:
        shown = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        self.problems.append(Problem(shown, _line(node), message, rule))

    def lint_file(self, path: Path) -> None:
        try:
            document = yaml.compose(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            self.problems.append(Problem(path, (mark.line + 1) if mark else 1, str(error), "syntax"))
            return
        if "runs" in _pairs(document):
            self._action(path, document)
        else:
            self._workflow(path, document)

    def _workflow(self, path: Path, document: yaml.Node) -> None:
        top = _pairs(document)
        inputs = frozenset(name for event in ("workflow_call", "workflow_dispatch")
                           for name in _declared(_trigger(document, event), "inputs"))
        for name, (_, node) in top.items():
            if name != "jobs":
                self._expressions(path, node, Scope(inputs))
        jobs = _pairs(top.get("jobs", (None, None))[1])
        graph = {}
        for job_name, (job_key, job) in jobs.items():
            fields = _pairs(job)
            graph[job_name] = needs = _scalars(fields.get("needs", (None, None))[1])
            for need in needs:
                if need not in jobs:
                    self.report(path, job_key, f"job {job_name!r} needs unknown job {need!r}", "needs")
            steps = [_pairs(step) for step in getattr(fields.get("steps", (None, None))[1], "value", [])]
            ids = frozenset(str(step["id"][1].value) for step in steps if "id" in step)
            self._expressions(path, job, Scope(inputs, ids, frozenset(needs)))
            if "uses" in fields:
                self._workflow_call(path, fields)
            for step in steps:
                if "uses" in step:
                    self._action_uses(path, step["uses"][1])
        self._cycles(path, document, graph)

    def _action(self, path: Path, document: yaml.Node) -> None:
        inputs = frozenset(_declared(document, "inputs"))
        runs = _pairs(_pairs(document)["runs"][1])
        steps = [_pairs(step) for step in getattr(runs.get("steps", (None, None))[1], "value", [])]
        ids = frozenset(str(step["id"][1].value) for step in steps if "id" in step)
        self._expressions(path, document, Scope(inputs, ids))
        for step in steps:
            if "run" in step and "shell" not in step:
                self.report(path, step["run"][0], "a composite action's run step needs `shell:`", "run")
            if "uses" in step:
                self._action_uses(path, step["uses"][1])

    def _expressions(self, path: Path, node: yaml.Node, scope: Scope) -> None:
        for key, scalar in _strings(node):
            value = str(scalar.value)
            texts = EXPRESSION.findall(value) or ([value] if key == "if" else [])
            if key == "run" and "${{" in value:
                self.report(path, scalar, "expression inside `run:`; pass the value through `env:`", "run")
            for text in texts:
                try:
                    tree = parse(text)
                except ExpressionError as error:
                    self.report(path, scalar, f"expression {text.strip()!r}: {error}", "expression")
                    continue
                for part in _walk(tree):
                    if part[0] == "property" and part[1][0] == "context":
                        self._reference(path, scalar, part[1][1], part[2], scope)

    def _reference(self, path: Path, node: yaml.Node, context: str, name: str, scope: Scope) -> None:
        known = {"inputs": scope.inputs, "steps": scope.steps, "needs": scope.needs}.get(context)
        if known is not None and name not in known:
            where = {"inputs": "declared inputs", "steps": "step ids here", "needs": "this job's needs"}
            self.report(path, node, f"{context}.{name} is not one of the {where[context]} "
                        f"({', '.join(sorted(known)) or 'none'})", "expression")

    def _workflow_call(self, path: Path, job: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        node = job["uses"][1]
        value = str(node.value)
        local = LOCAL_WORKFLOW.fullmatch(value)
        if not local:
            if not REMOTE_WORKFLOW.fullmatch(value):
                self.report(path, node, f"reusable workflow call {value!r} is not "
                            "./.github/workflows/FILE.yml, $/.github/workflows/FILE.yml nor "
                            "OWNER/REPO/.github/workflows/FILE.yml@REF", "workflow-call")
            return
        callee = self.root / local.group(1)
        if not callee.is_file():
            self.report(path, node, f"reusable workflow {value!r} does not exist", "workflow-call")
            return
        trigger = _trigger(yaml.compose(callee.read_text()), "workflow_call")
        if trigger is None:
            self.report(path, node, f"{value!r} is not triggered by workflow_call", "workflow-call")
            return
        for section in ("inputs", "secrets"):
            declared = _declared(trigger, section)
            given = _pairs(job.get("with" if section == "inputs" else "secrets", (None, None))[1])
            for name, (key, _) in given.items():
                if name not in declared:
                    self.report(path, key, f"{section[:-1]} {name!r} is not declared by {value!r}",
                                "workflow-call")
            for name in sorted(n for n, required in declared.items() if required and n not in given):
                self.report(path, node, f"{value!r} requires {section[:-1]} {name!r}", "workflow-call")

    def _action_uses(self, path: Path, node: yaml.Node) -> None:
        value = str(node.value)
        local = LOCAL_ACTION.fullmatch(value)
        if local:
            folder = self.root / local.group(1)
            if not any((folder / name).is_file() for name in ("action.yml", "action.yaml", "Dockerfile")):
                self.report(path, node, f"no action at {value!r}", "action")
        elif not (REMOTE_ACTION.fullmatch(value) or re.fullmatch(r"docker://\S+", value)):
            self.report(path, node, f"action {value!r} is not OWNER/REPO[/PATH]@REF, ./PATH, $/PATH "
                        "nor docker://IMAGE", "action")

    def _cycles(self, path: Path, document: yaml.Node, graph: dict[str, list[str]]) -> None:
        state: dict[str, str] = {}

        def visit(job: str) -> bool:
            if state.get(job) == "open":
                return True
            if job in state or job not in graph:
                return False
            state[job] = "open"
            found = any(visit(need) for need in graph[job])
            state[job] = "done"
            return found

        if any(visit(job) for job in graph):
            self.report(path, document, "the jobs' needs form a cycle", "needs")


def default_targets(root: Path) -> list[Path]:
    found = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    found += sorted(root.glob(".github/actions/*/action.y*ml"))
    return found + [path for path in (root / "action.yml",) if path.is_file()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parent.parent
    if args[:1] == ["--root"]:
        root, args = Path(args[1]).resolve(), args[2:]
    linter = Linter(root)
    for target in [Path(arg).resolve() for arg in args] or default_targets(root):
        linter.lint_file(target)
    for problem in linter.problems:
        print(problem)
    if linter.problems:
        print(f"workflow lint: {len(linter.problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
