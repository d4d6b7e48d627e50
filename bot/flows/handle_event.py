"""`mirror-bot handle-event`: one GitHub event in, the outcomes table of DESIGN.md out.

Rule: only issues carrying the request label, opened by a person and not locked, are handled;
everything else gets no write call. The bot keeps one comment per issue, edited in place
(syncing -> result); labels and state are set together at the end. Exit 0 when the issue was
handled (mirrored, denied, invalid), 1 on a transient failure that stays open for a retry.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.adapters import build_forge, build_syncer
from bot.config import Config, Labels, load_config
from bot.errors import MirrorBotError
from bot.flows.plan import Plan, plan_issue
from bot.flows.sync_images import sync_plan
from bot.forge import COMMENT_MARKER, BotComment, Forge, ForgeError, IssueSnapshot, LocalForge
from bot.redaction import redact
from bot.render import read_result_marker, render, result_marker
from bot.request import parse_request
from bot.sync import Syncer, SyncResult

FINAL_FAILURE_KINDS = frozenset({"not_found", "platform_unavailable", "too_large", "invalid",
                                 "denied"})
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
RETRY_COMMAND = "/retry"


@dataclass(frozen=True)
class Event:
    name: str
    action: str
    issue: IssueSnapshot
    sender: str = ""
    sender_is_bot: bool = False
    comment_body: str | None = None
    label: str | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, name: str, payload: Mapping[str, Any]) -> Event | None:
        if "issue" not in payload:
            return None
        comment = payload.get("comment") or {}
        actor = comment.get("user") or payload.get("sender") or {}
        return cls(
            name=name,
            action=str(payload.get("action") or ""),
            issue=IssueSnapshot.from_payload(payload["issue"]),
            sender=str(actor.get("login") or ""),
            sender_is_bot=actor.get("type") == "Bot",
            comment_body=comment.get("body") if comment else None,
            label=(payload.get("label") or {}).get("name"),
            changes=payload.get("changes") or {},
        )


@dataclass(frozen=True)
class Outcome:
    name: str  # ignored, superseded, mirrored, denied, invalid, failed, gave_up
    exit_code: int
    results: tuple[SyncResult, ...] = ()


class Superseded(MirrorBotError):
    """Another run owns this issue's comment; this run stops without writing more."""


class _Unfetched:
    """Marks 'the bot comment has not been looked up yet' (None means 'there is none')."""


UNFETCHED = _Unfetched()


def why_ignored(event: Event, labels: Labels, mirror_hosts: Sequence[str]) -> str | None:
    """The reason the event needs no action, or None when it should be handled (pure)."""
    issue = event.issue
    if issue.is_pull_request:
        return "pull requests are not image requests"
    if labels.request not in issue.labels:
        return f"issue #{issue.number} does not carry the '{labels.request}' label"
    if issue.author_is_bot:
        return f"issue #{issue.number} was opened by a bot"
    if issue.locked:
        return f"issue #{issue.number} is locked"
    if event.name == "issues":
        if event.action in {"opened", "reopened"}:
            return None
        if event.action == "labeled":
            return None if event.label == labels.request else "another label was added"
        if event.action == "edited":
            return None if _request_changed(event, mirror_hosts) else "the edit did not change the request"
        return f"issues.{event.action} needs no action"
    if event.name == "issue_comment":
        if event.action != "created":
            return f"issue_comment.{event.action} needs no action"
        if event.sender_is_bot:
            return "comments by bots are ignored"
        first_line = (event.comment_body or "").strip().splitlines()[:1]
        if first_line != [RETRY_COMMAND]:
            return "the comment is not /retry"
        return None
    return f"{event.name} events are not handled"


def _request_changed(event: Event, mirror_hosts: Sequence[str]) -> bool:
    issue = event.issue
    old_title = (event.changes.get("title") or {}).get("from", issue.title)
    old_body = (event.changes.get("body") or {}).get("from", issue.body)
    before = parse_request(old_title, old_body, mirror_hosts)
    after = parse_request(issue.title, issue.body, mirror_hosts)
    return (before.images, before.platforms) != (after.images, after.platforms)


@dataclass
class Handler:
    """Handles one event with the adapters it is given."""

    config: Config
    forge: Forge
    syncer: Syncer
    run_url: str | None = None
    repository_url: str = ""
    log: Any = sys.stderr
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Tells this run's own comment (e.g. a POST duplicated by a retry) from another run's.
    run_nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def say(self, message: str) -> None:
        print(f"mirror-bot: {redact(message, self.config.secrets)}", file=self.log)

    def handle(self, event: Event) -> Outcome:
        reason = why_ignored(event, self.config.labels, self.config.namer.pasted_prefixes)
        if reason is None and event.name == "issue_comment" and event.sender != event.issue.author:
            permission = self.forge.permission(event.sender)
            if permission not in WRITE_PERMISSIONS:
                reason = f"/retry by {event.sender} ignored: not the author, permission '{permission}'"
        if reason:
            self.say(f"ignored: {reason}")
            return Outcome("ignored", 0)
        return self.process_safely(event.issue, check_flood=event.action == "opened")

    def process_safely(self, issue: IssueSnapshot, **options: Any) -> Outcome:
        """process(), turning tracker failures into a transient outcome instead of a crash."""
        try:
            return self.process(issue, **options)
        except Superseded as error:
            self.say(str(error))
            return Outcome("superseded", 0)
        except ForgeError as error:
            self.say(f"issue #{issue.number}: {error}; it stays open for the sweep or /retry")
            return Outcome("failed", 1)

    def process(self, issue: IssueSnapshot, *, check_flood: bool = False,
                comment: BotComment | _Unfetched | None = UNFETCHED) -> Outcome:
        """Plan, sync and report one request issue. Also the sweep's entry point."""
        plan = plan_issue(issue.title, issue.body, self.config.allowlist, self.config.namer)
        if isinstance(comment, _Unfetched):
            comment = self.forge.find_bot_comment(issue)
        previous = read_result_marker(comment.body) if comment else None
        if check_flood:
            cap = self.config.allowlist.settings.max_open_requests_per_user
            open_requests = self.forge.open_requests_by(issue.author, self.config.labels.request)
            if open_requests > cap:
                return self._refuse_flood(issue, comment, open_requests, cap)
        if not plan.allowed:
            return self._finish(issue, comment, plan, [], previous)
        syncing = result_marker({"issue": issue.number, "phase": "syncing", "at": self._now(),
                                 "run": self.run_nonce,
                                 "attempts": (previous or {}).get("attempts", 0),
                                 "images": (previous or {}).get("images", [])})
        comment = self._upsert(issue, comment, self._comment(plan, "syncing", result_marker=syncing))
        results = sync_plan(plan, self.syncer, progress=self.log)
        return self._finish(issue, comment, plan, results, previous)

    def give_up(self, issue: IssueSnapshot, comment: BotComment | None, attempts: int) -> Outcome:
        """Close a request whose transient failures outlasted the retry cap."""
        body = self._comment(Plan(()), "result", outcome="gave_up", attempts=attempts,
                             result_marker=result_marker({"issue": issue.number, "phase": "result",
                                                          "outcome": "gave_up", "at": self._now(),
                                                          "attempts": attempts, "images": []}))
        self._upsert(issue, comment, body)
        self.forge.update_issue(issue, list(issue.labels), "closed", "not_planned")
        self.say(f"issue #{issue.number}: gave up after {attempts} attempts")
        return Outcome("gave_up", 0)

    def _now(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _upsert(self, issue: IssueSnapshot, comment: BotComment | None, body: str) -> BotComment:
        if comment is None:
            return self._create(issue, body)
        return self.forge.edit_comment(issue, comment, body)

    def _create(self, issue: IssueSnapshot, body: str) -> BotComment:
        """Create the bot comment, then make sure it is the only one.

        Two runs (handle-event and the sweep) can both find no comment and both create one; a
        retried POST can create one twice. The oldest comment wins: a run whose comment is not
        the oldest deletes its own, adopting the oldest if it is its own duplicate, and
        otherwise leaves the issue to the run that owns it.
        """
        created = self.forge.create_comment(issue, body)
        older = [c for c in self.forge.bot_comments(issue) if c.id < created.id]
        if not older:
            return created
        self.forge.delete_comment(created)
        if older[0].body == body:
            return older[0]
        raise Superseded(f"issue #{issue.number} is being handled by another run")

    def _comment(self, plan: Plan, phase: str, **context: Any) -> str:
        defaults: dict[str, Any] = {
            "marker": COMMENT_MARKER, "plan": plan, "phase": phase, "run_url": self.run_url,
            "outcome": "", "mirrored": [], "refused": [], "failed": [], "any_denied": False,
            "allowlist_url": f"{self.repository_url}/blob/HEAD/allowlist.yaml"
            if self.repository_url else "allowlist.yaml",
            "example_pattern": "", "suggestion": None, "result_marker": "", "attempts": 0,
        }
        defaults.update(context)
        return redact(render("comment.md.j2", **defaults), self.config.secrets)

    def _finish(self, issue: IssueSnapshot, comment: BotComment | None, plan: Plan,
                results: list[SyncResult], previous: dict[str, Any] | None) -> Outcome:
        refused = [image for image in plan.images if image.decision != "allowed"]
        mirrored = [r for r in results if r.status in {"copied", "unchanged"}]
        failed = [r for r in results if r.status == "failed"]
        transient = [r for r in failed if r.error and r.error.kind not in FINAL_FAILURE_KINDS]
        if transient:
            outcome = "failed"
        elif mirrored:
            outcome = "mirrored"
        elif any(image.decision == "denied" for image in refused) and not failed:
            outcome = "denied"
        else:
            outcome = "invalid"
        denied = [image for image in refused if image.decision == "denied"]
        now = self._now()
        first_syncs = {image.get("target"): image.get("first_sync")
                       for image in (previous or {}).get("images", [])}
        attempts = (previous or {}).get("attempts", 0) + 1 if outcome == "failed" else 0
        marker = result_marker({"issue": issue.number, "phase": "result", "outcome": outcome,
                                "at": now, "attempts": attempts, "images": [
            {"source": str(r.source), "target": str(r.target), "digest": r.digest,
             "platforms": [str(p) for p in r.platforms],
             "first_sync": first_syncs.get(str(r.target)) or now} for r in mirrored]})
        body = self._comment(
            plan, "result", outcome=outcome, mirrored=mirrored, refused=refused, failed=failed,
            any_denied=bool(denied), example_pattern=denied[0].source.name
            if denied and denied[0].source else "",
            suggestion=next((i.suggestion for i in refused if i.suggestion), None),
            result_marker=marker)
        self._upsert(issue, comment, body)
        labels = self.config.labels
        ours = {labels.succeeded, labels.failure, labels.denied, labels.invalid}
        kept = [label for label in issue.labels if label not in ours]
        new_label, state, reason = {
            "mirrored": (labels.succeeded, "closed", "completed"),
            "failed": (labels.failure, "open", None),
            "denied": (labels.denied, "closed", "not_planned"),
            "invalid": (labels.invalid, "closed", "not_planned"),
        }[outcome]
        self.forge.update_issue(issue, [*kept, new_label],
                                None if state == issue.state else state, reason)
        statuses = ", ".join(f"{r.source}: {r.status}" for r in results) or "nothing synced"
        self.say(f"issue #{issue.number}: {outcome} ({statuses})")
        return Outcome(outcome, 1 if outcome == "failed" else 0, results=tuple(results))

    def _refuse_flood(self, issue: IssueSnapshot, comment: BotComment | None, count: int,
                      cap: int) -> Outcome:
        body = self._comment(Plan(()), "result", outcome="invalid", refused=[_Refusal(
            issue.title, f"you have {count} open requests and this mirror takes at most {cap} per "
                         "person at a time. Wait for them to finish, then reopen this issue.")])
        self._upsert(issue, comment, body)
        kept = [label for label in issue.labels if label != self.config.labels.invalid]
        self.forge.update_issue(issue, [*kept, self.config.labels.invalid], "closed", "not_planned")
        return Outcome("invalid", 0)


@dataclass(frozen=True)
class _Refusal:
    input: str
    reason: str
    suggestion: str | None = None


def write_summary(path: Path, issue: IssueSnapshot, outcome: Outcome, secrets: list[str]) -> None:
    rows = [{"source": r.source, "status": r.status, "target": r.target or "",
             "digest": r.digest or (str(r.error.kind) if r.error else "")} for r in outcome.results]
    text = render("summary.md.j2", issue=issue, outcome=outcome.name, rows=rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(redact(text, secrets))


def build_handler(config: Config, forge: Forge, env: Mapping[str, str]) -> Handler:
    repository = env.get("GITHUB_REPOSITORY", "")
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    run_id = env.get("GITHUB_RUN_ID")
    return Handler(
        config=config, forge=forge, syncer=build_syncer(config, env),
        run_url=f"{server}/{repository}/actions/runs/{run_id}" if run_id and repository else None,
        repository_url=f"{server}/{repository}" if repository else "",
    )


def run_from_environment(env: Mapping[str, str] | None = None,
                         local_forge: Path | None = None) -> int:
    """The workflow entry point: read GITHUB_* and MIRROR_* and handle the event."""
    env = os.environ if env is None else env
    event_path = env.get("GITHUB_EVENT_PATH")
    event_name = env.get("GITHUB_EVENT_NAME", "")
    if not event_path:
        print("mirror-bot: GITHUB_EVENT_PATH is not set; run this from GitHub Actions or pass "
              "an event file with GITHUB_EVENT_PATH=event.json", file=sys.stderr)
        return 2
    payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
    event = Event.from_payload(event_name, payload)
    if event is None:
        print(f"mirror-bot: ignored: {event_name} event without an issue", file=sys.stderr)
        return 0
    config = load_config(env)
    forge = build_forge(env, local_forge)
    if isinstance(forge, LocalForge):
        forge.add_issue(payload["issue"])
    outcome = build_handler(config, forge, env).handle(event)
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary and outcome.name != "ignored":
        write_summary(Path(summary), event.issue, outcome, config.secrets)
    return outcome.exit_code
