"""One contract for every Forge: each method runs against LocalForge and against GitHubForge
(real PyGithub over HTTP to the GitHub stand-in, REST and GraphQL), with the same expectations.

The contract: only the bot's own words count (its login, and a body that starts with its
marker), the bot never changes anyone else's comment, and lists span every page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.forge.github import GitHubForge
from bot.forge.local import LocalForge
from bot.forge.protocol import (
    COMMENT_MARKER,
    DEFAULT_BOT_LOGIN,
    BotComment,
    Forge,
    ForgeError,
    IssueSnapshot,
)
from sandbox.github_standin import GitHubStandIn, serve
from tests.fixtures import REPO_ROOT

LABEL = "sync image"
BOT = DEFAULT_BOT_LOGIN


def record(text: str) -> str:
    return f"{COMMENT_MARKER}\n{text}"


class LocalKit:
    """LocalForge, fed with the same issue payloads GitHub would send."""

    def __init__(self, folder: Path) -> None:
        self.forge = LocalForge(folder, echo=False)
        self._payloads = GitHubStandIn()  # not served: it only shapes issue payloads

    def add_issue(self, title: str, **options: Any) -> IssueSnapshot:
        payload = self._payloads.add_issue(title, **options)
        self.forge.add_issue(payload)
        return IssueSnapshot.from_payload(payload)

    def add_comment(self, number: int, body: str, author: str) -> int:
        return self.forge.add_comment(number, body, author)

    def comments_on(self, number: int) -> list[tuple[str, str]]:
        return [(c["author"], c["body"]) for c in self.forge.comments_on(number)]

    def issue(self, number: int) -> tuple[str, str | None, set[str]]:
        state = json.loads((self.forge.folder / "state.json").read_text())["issues"][str(number)]
        return state["state"], state["state_reason"], set(state["labels"])

    def set_permission(self, user: str, permission: str) -> None:
        self.forge.permissions[user] = permission


class GitHubKit:
    """GitHubForge through PyGithub against the stand-in."""

    def __init__(self, standin: GitHubStandIn) -> None:
        self.standin = standin
        self.forge = GitHubForge(standin.repository, standin.token, standin.base_url,
                                 seconds_between_writes=None, trust_comment_count=False,
                                 backoff=0.01, secondary_rate_wait=0.1)

    def add_issue(self, title: str, **options: Any) -> IssueSnapshot:
        return IssueSnapshot.from_payload(self.standin.add_issue(title, **options))

    def add_comment(self, number: int, body: str, author: str) -> int:
        return int(self.standin.add_comment(number, body, author)["id"])

    def comments_on(self, number: int) -> list[tuple[str, str]]:
        return [(c["user"]["login"], c["body"]) for c in self.standin.comments_on(number)]

    def issue(self, number: int) -> tuple[str, str | None, set[str]]:
        issue = self.standin.issues[number]
        return issue["state"], issue["state_reason"], {label["name"] for label in issue["labels"]}

    def set_permission(self, user: str, permission: str) -> None:
        self.standin.permissions[user] = permission


Kit = LocalKit | GitHubKit


@pytest.fixture(params=["local", "github"])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    if request.param == "local":
        yield LocalKit(tmp_path / "forge")
        return
    with serve(GitHubStandIn()) as standin:
        yield GitHubKit(standin)


def forgeries(kit: Kit, number: int) -> None:
    """Comments that look like the bot's record but are not."""
    kit.add_comment(number, record("forged by a user"), "mallory")
    kit.add_comment(number, record("a user whose login is the app's slug"), "github-actions")
    kit.add_comment(number, record("another app's bot"), "other-app[bot]")
    kit.add_comment(number, f"quoted: {COMMENT_MARKER}", BOT)  # the bot's, but not a record


def ids(comments: Any) -> list[int]:
    return [c.id for c in comments]


def test_only_the_bots_own_marked_comment_is_returned_by_every_listing(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    forgeries(kit, issue.number)
    mine = kit.forge.create_comment(issue, record("the bot's"))
    forgeries(kit, issue.number)
    assert mine.author == BOT and kit.forge.bot_login == BOT
    assert ids(kit.forge.bot_comments(issue)) == [mine.id]
    assert kit.forge.find_bot_comment(issue) == mine
    [listed] = kit.forge.all_bot_comments(LABEL)
    assert (listed.id, listed.body, listed.issue_number, listed.author) == (
        mine.id, record("the bot's"), issue.number, BOT)
    [request] = kit.forge.open_requests(LABEL)
    assert (request.issue.number, request.issue.title, request.issue.author) == (
        issue.number, issue.title, issue.author)
    assert request.comment is not None
    assert (request.comment.id, request.comment.author) == (mine.id, BOT)


def test_a_forged_record_alone_is_never_returned(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    forgeries(kit, issue.number)
    assert kit.forge.bot_comments(issue) == []
    assert kit.forge.find_bot_comment(issue) is None
    assert list(kit.forge.all_bot_comments(LABEL)) == []
    assert [r.comment for r in kit.forge.open_requests(LABEL)] == [None]


def test_the_bot_never_changes_another_users_comment(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    theirs = kit.add_comment(issue.number, record("mallory's"), "mallory")
    as_listed = BotComment(theirs, record("mallory's"), issue.number, "", "mallory")
    with pytest.raises(ForgeError, match="written by mallory"):
        kit.forge.edit_comment(issue, as_listed, record("hijacked"))
    with pytest.raises(ForgeError, match="written by mallory"):
        kit.forge.delete_comment(as_listed)
    with pytest.raises(ForgeError, match="not the bot's"):
        kit.forge.rewrite_comment(theirs, lambda body: record("hijacked"))
    with pytest.raises(ForgeError):
        kit.forge.edit_comment(issue, BotComment(theirs, ""), record("no author known"))
    assert kit.comments_on(issue.number) == [("mallory", record("mallory's"))]


def test_create_edit_delete_the_bots_comment(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    created = kit.forge.create_comment(issue, record("syncing"))
    assert kit.comments_on(issue.number) == [(BOT, record("syncing"))]
    edited = kit.forge.edit_comment(issue, created, record("mirrored"))
    assert (edited.id, edited.body, edited.author) == (created.id, record("mirrored"), BOT)
    assert kit.comments_on(issue.number) == [(BOT, record("mirrored"))]
    kit.forge.delete_comment(edited)
    assert kit.comments_on(issue.number) == []
    with pytest.raises(ForgeError):
        kit.forge.edit_comment(issue, edited, record("gone"))
    with pytest.raises(ForgeError):
        kit.forge.rewrite_comment(edited.id, lambda body: body)


def test_rewrite_reads_the_comment_as_it_is_now(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    created = kit.forge.create_comment(issue, record("v1"))
    kit.forge.edit_comment(issue, created, record("v2"))  # another run, after the listing
    kit.forge.rewrite_comment(created.id, lambda body: body + " rewritten")
    assert kit.comments_on(issue.number) == [(BOT, record("v2") + " rewritten")]


def test_oldest_bot_comment_first(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    first = kit.forge.create_comment(issue, record("first"))
    second = kit.forge.create_comment(issue, record("second"))
    assert ids(kit.forge.bot_comments(issue)) == [first.id, second.id]
    assert kit.forge.find_bot_comment(issue) == first
    assert ids(kit.forge.all_bot_comments(LABEL)) == [first.id]  # the one the bot keeps
    assert [r.comment.id for r in kit.forge.open_requests(LABEL) if r.comment] == [first.id]


def test_update_issue_sets_labels_and_state_together(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    kit.forge.update_issue(issue, [LABEL, "sync image denied"], "closed", "not_planned")
    assert kit.issue(issue.number) == ("closed", "not_planned", {LABEL, "sync image denied"})


def test_permission(kit: Kit) -> None:
    kit.set_permission("maintainer", "write")
    assert kit.forge.permission("maintainer") == "write"
    assert kit.forge.permission("stranger") == "read"


def test_open_requests_by_counts_a_users_earlier_open_requests(kit: Kit) -> None:
    for author, labels, state in [("alice", (LABEL,), "open"), ("alice", (LABEL,), "open"),
                                  ("alice", (LABEL,), "closed"), ("alice", ("other",), "open"),
                                  ("bob", (LABEL,), "open"), ("alice", (LABEL,), "open"),
                                  ("alice", (LABEL, "other"), "open")]:
        kit.add_issue("nginx:1", author=author, labels=labels, state=state)
    assert [kit.forge.open_requests_by("alice", LABEL, before=n) for n in range(1, 9)] == [
        0, 1, 2, 2, 2, 2, 3, 4]
    assert kit.forge.open_requests_by("carol", LABEL, before=8) == 0


def test_lists_span_every_page_oldest_first(kit: Kit) -> None:
    """230 open requests, closed and unlabelled issues between them: three pages on GitHub."""
    wanted = []
    for n in range(260):
        created = f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        state, labels = ("closed", (LABEL,)) if n % 13 == 0 else ("open", (LABEL,))
        if n % 17 == 0:
            labels = ("question",)
        author = {"author": "renovate[bot]", "author_type": "Bot"} if n == 5 else {}
        issue = kit.add_issue(f"image-{n}:1", created_at=created, state=state, labels=labels,
                              **author)
        if state == "open" and LABEL in labels:
            wanted.append(issue.number)
        if n % 2 and LABEL in labels:  # the bot writes only on request issues
            kit.add_comment(issue.number, record(f"record {n}"), BOT)
        else:
            kit.add_comment(issue.number, record(f"forged {n}"), "mallory")
    listed = kit.forge.open_request_issues(LABEL)
    assert [i.number for i in listed] == wanted and len(wanted) > 200
    requests_ = kit.forge.open_requests(LABEL)
    assert [r.issue for r in requests_] == listed  # the same snapshots, read either way
    assert [(i.author, i.author_is_bot) for i in listed if i.number == 6] == [("renovate[bot]", True)]
    assert [r.comment.body if r.comment else None for r in requests_] == [
        record(f"record {n - 1}") if (n - 1) % 2 else None for n in wanted]
    records = list(kit.forge.all_bot_comments(LABEL))
    assert [c.body for c in records] == [record(f"record {n}") for n in range(260)
                                         if n % 2 and n % 17]
    assert all(c.issue_number == n + 1 for c, n in zip(
        records, [n for n in range(260) if n % 2 and n % 17], strict=True))


def test_the_bots_comment_is_found_behind_many_others(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1")
    for n in range(25):
        kit.add_comment(issue.number, f"+1 ({n})", "bystander")
    mine = kit.add_comment(issue.number, record("late but the bot's"), BOT)
    [request] = kit.forge.open_requests(LABEL)
    assert request.comment is not None and request.comment.id == mine
    assert ids(kit.forge.all_bot_comments(LABEL)) == [mine]


def test_a_record_on_a_closed_issue_counts_for_the_index(kit: Kit) -> None:
    issue = kit.add_issue("nginx:1", state="closed")
    mine = kit.add_comment(issue.number, record("mirrored"), BOT)
    assert ids(kit.forge.all_bot_comments(LABEL)) == [mine]
    assert kit.forge.open_requests(LABEL) == []


def test_has_label_knows_the_labels_issues_carry_and_the_bot_set(kit: Kit) -> None:
    assert kit.forge.has_label(LABEL) is False
    issue = kit.add_issue("nginx:1", labels=(LABEL, "team/infra"))
    assert kit.forge.has_label(LABEL) is True
    assert kit.forge.has_label("team/infra") is True  # a '/' stays part of the name
    assert kit.forge.has_label("team") is False
    assert kit.forge.has_label("sync image denied") is False
    kit.forge.update_issue(issue, [LABEL, "sync image denied"], "closed", "not_planned")
    assert kit.forge.has_label("sync image denied") is True


def test_has_label_reads_one_label_and_writes_nothing(github: GitHubStandIn) -> None:
    github.add_label(LABEL)  # created in the settings, on no issue yet
    forge = GitHubKit(github).forge
    assert forge.has_label(LABEL) is True
    assert forge.has_label("sync image succeeded") is False
    assert github.log == [("GET", "/repos/acme/mirror/labels/sync%20image"),
                          ("GET", "/repos/acme/mirror/labels/sync%20image%20succeeded")]


# -- tracking issues: issues the bot opens itself (mirror-bot follow) ---------------------------

FOLLOW = "sync image follow"


def test_create_issue_opens_it_as_the_bot_and_lock_issue_locks_it(kit: Kit) -> None:
    kit.add_issue("nginx:1")  # a request before it: numbers go on
    created = kit.forge.create_issue("follow: docker.io/library/nginx", "tracking", [FOLLOW])
    assert (created.number, created.title, created.body, created.author, created.labels,
            created.state, created.locked) == (
        2, "follow: docker.io/library/nginx", "tracking", BOT, (FOLLOW,), "open", False)
    kit.forge.lock_issue(created)
    kit.forge.update_issue(created, [FOLLOW], "closed", "completed")
    [listed] = kit.forge.issues_with_label(FOLLOW)
    assert (listed.number, listed.author, listed.state, listed.locked) == (2, BOT, "closed", True)
    comment = kit.forge.create_comment(listed, record("the record"))  # the bot may still write
    assert [c.id for c in kit.forge.all_bot_comments(FOLLOW)] == [comment.id]


def test_issues_with_label_lists_every_state_with_authors_across_pages(kit: Kit) -> None:
    """250 issues: the label's, in any state, oldest first, each with its author (3 pages)."""
    wanted = []
    for n in range(250):
        created = f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"
        labels = (FOLLOW,) if n % 5 else (LABEL,)
        author = {"author": BOT, "author_type": "Bot"} if n % 3 else {"author": "mallory"}
        issue = kit.add_issue(f"follow: docker.io/library/app-{n}", created_at=created,
                              labels=labels, state="closed" if n % 2 else "open", **author)
        if FOLLOW in labels:
            wanted.append((issue.number, issue.author, issue.state))
    listed = kit.forge.issues_with_label(FOLLOW)
    assert [(i.number, i.author, i.state) for i in listed] == wanted and len(wanted) == 200
    assert {i.author for i in listed} == {BOT, "mallory"}  # the caller decides whom to trust
    assert [i.number for i in kit.forge.open_request_issues(LABEL)] == [
        n + 1 for n in range(250) if not n % 5 and not n % 2]


# -- configuration of the local forge --------------------------------------------------------

def test_local_forge_on_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    afile = tmp_path / "state"
    afile.write_text("{}")
    with pytest.raises(ConfigError, match="--local-forge") as raised:
        LocalForge(afile)
    assert "\n" not in str(raised.value)


def test_local_forge_with_a_corrupt_state_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"comments": {')
    with pytest.raises(ConfigError, match=r"state\.json") as raised:
        LocalForge(tmp_path)
    assert "\n" not in str(raised.value)
    (tmp_path / "state.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"state\.json"):
        LocalForge(tmp_path)


@pytest.mark.parametrize("setup", ["file", "corrupt"])
def test_cli_with_a_bad_local_forge_says_one_line_and_exits_2(tmp_path: Path, setup: str) -> None:
    target = tmp_path / "forge"
    if setup == "file":
        target.write_text("not a folder")
    else:
        target.mkdir()
        (target / "state.json").write_text("{broken")
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "index", "--local-forge", str(target)],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=60,
        env={"PATH": "/usr/bin:/bin", "MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"),
             "MIRROR_REGISTRY": "m.example.io"})
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "--local-forge" in completed.stderr
    assert "Traceback" not in completed.stderr


# -- GitHub only: what the local forge cannot get wrong --------------------------------------

def test_a_token_that_writes_as_someone_else_is_a_configuration_error(
        github: GitHubStandIn) -> None:
    github.token_login = "octocat"  # e.g. a personal access token with MIRROR_BOT_LOGIN unset
    issue = IssueSnapshot.from_payload(github.add_issue("nginx:1"))
    forge = GitHubKit(github).forge
    with pytest.raises(ConfigError, match="MIRROR_BOT_LOGIN=octocat"):
        forge.create_comment(issue, record("syncing"))
    assert github.comments == {}  # the comment nobody would trust was removed


def test_an_app_installation_is_trusted_under_its_own_login(github: GitHubStandIn) -> None:
    github.token_login = "mirror-app[bot]"
    issue = IssueSnapshot.from_payload(github.add_issue("nginx:1"))
    github.add_comment(1, record("github-actions is not this app"), BOT)
    forge: Forge = GitHubForge(github.repository, github.token, github.base_url,
                               bot_login="mirror-app[bot]", seconds_between_writes=None)
    mine = forge.create_comment(issue, record("the app's"))
    assert ids(forge.all_bot_comments(LABEL)) == [mine.id]
    assert [r.comment.id for r in forge.open_requests(LABEL) if r.comment] == [mine.id]


def test_a_token_that_opens_issues_as_someone_else_is_a_configuration_error(
        github: GitHubStandIn) -> None:
    github.token_login = "octocat"
    forge = GitHubKit(github).forge
    with pytest.raises(ConfigError, match="MIRROR_BOT_LOGIN=octocat"):
        forge.create_issue("follow: docker.io/library/nginx", "tracking", ["sync image follow"])


def test_tracking_issues_cost_one_request_each_and_one_per_100_listed(
        github: GitHubStandIn) -> None:
    forge = GitHubKit(github).forge
    github.reset_log()
    created = forge.create_issue("follow: docker.io/library/nginx", "tracking", ["sync image follow"])
    forge.lock_issue(created)
    assert github.log == [("POST", "/repos/acme/mirror/issues"),
                          ("PUT", "/repos/acme/mirror/issues/1/lock")]
    assert github.issues[1]["active_lock_reason"] == "resolved"
    for n in range(150):
        github.add_issue(f"follow: docker.io/library/app-{n}", labels=("sync image follow",),
                         state="closed")
    github.reset_log()
    assert len(forge.issues_with_label("sync image follow")) == 151
    assert github.log == [("GET", "/repos/acme/mirror/issues")] * 2


# -- the stand-in itself: GitHub's endpoints, GitHub's paging --------------------------------

# Each endpoint the stand-in serves, as octokit/plugin-rest-endpoint-methods.js spells it in
# src/generated/endpoints.ts (generated from GitHub's OpenAPI description; checked at commit
# 72b969439000425a16b46c61f369a3c9d52c2b0f), with octokit's method name.
OCTOKIT_ENDPOINTS = {
    "GET /repos/{owner}/{repo}": "repos.get",
    "GET /repos/{owner}/{repo}/issues": "issues.listForRepo",
    "POST /repos/{owner}/{repo}/issues": "issues.create",
    "PUT /repos/{owner}/{repo}/issues/{issue_number}/lock": "issues.lock",
    "GET /repos/{owner}/{repo}/issues/{issue_number}": "issues.get",
    "PATCH /repos/{owner}/{repo}/issues/{issue_number}": "issues.update",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/comments": "issues.listComments",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/comments": "issues.createComment",
    "GET /repos/{owner}/{repo}/issues/comments": "issues.listCommentsForRepo",
    "GET /repos/{owner}/{repo}/issues/comments/{comment_id}": "issues.getComment",
    "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": "issues.updateComment",
    "DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}": "issues.deleteComment",
    "GET /repos/{owner}/{repo}/collaborators/{username}/permission":
        "repos.getCollaboratorPermissionLevel",
    "GET /repos/{owner}/{repo}/labels/{name}": "issues.getLabel",
}


def test_the_stand_in_serves_only_githubs_endpoints(github: GitHubStandIn) -> None:
    from sandbox.github_standin import ROUTES

    assert {r.template for r in ROUTES} <= set(OCTOKIT_ENDPOINTS)
    github.add_issue("nginx:1")
    for method, path in [("GET", "/repos/acme/mirror/issues/1/comments/2"),  # not GitHub's
                         ("PUT", "/repos/acme/mirror/issues/1"),
                         ("GET", "/repos/someone/else/issues")]:
        status, _, _ = github.respond(method, path, None, {"authorization": f"token {github.token}"})
        assert status == 404, (method, path)


def test_pygithubs_own_pagination_follows_the_stand_ins_link_headers(github: GitHubStandIn) -> None:
    from github import Auth, Github

    for n in range(250):
        github.add_issue(f"image-{n}:1")
    github.reset_log()
    client = Github(base_url=github.base_url, auth=Auth.Token(github.token), per_page=100,
                    lazy=True)
    issues = client.get_repo(github.repository).get_issues(state="open")
    assert sorted(issue.number for issue in issues) == list(range(1, 251))
    assert github.log == [("GET", "/repos/acme/mirror/issues")] * 3
