"""The GitHub API budget, counted: what each command costs at scale, through real PyGithub
against the stand-in's request log (counts are deterministic, so they are asserted exactly).

GITHUB_TOKEN allows 1,000 REST requests and 1,000 GraphQL points per hour per repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.copy.model import SyncItem
from bot.forge.github import GitHubForge
from bot.forge.protocol import COMMENT_MARKER, IssueSnapshot
from bot.image.reference import parse
from sandbox.github_standin import GitHubStandIn
from tests.fixtures import MIRROR_PASSWORD, MIRROR_USER, REPO_ROOT, Sandbox, github_env, render_record

LABELS = ("sync image", "sync image succeeded")
FAILING = ("sync image", "sync image failure")


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key in list(os.environ):
        if key.startswith(("MIRROR_", "GITHUB_")) and key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_mirrored(github: GitHubStandIn, source: str, target: str, digest: str) -> int:
    """A closed request whose bot comment records a mirrored image, as handle-event leaves it."""
    number = github.add_issue(source, labels=LABELS, state="closed")["number"]
    github.add_bot_comment(number, f"{COMMENT_MARKER}\nMirrored `{target}`\n" + render_record({
        "issue": number, "phase": "result", "outcome": "mirrored", "at": "2026-11-01T00:00:00Z",
        "attempts": 0, "images": [{"source": source, "target": target, "digest": digest,
                                   "platforms": [], "first_sync": "2026-11-01T00:00:00Z"}]}))
    return number


def add_failing(github: GitHubStandIn, count: int, failed_at: datetime) -> None:
    """Open requests whose last attempt failed at `failed_at` (the first of five attempts)."""
    for n in range(count):
        number = github.add_issue(f"docker.io/library/flaky-{n}:1.0", labels=FAILING,
                                  created_at=stamp(failed_at - timedelta(hours=1)))["number"]
        github.add_bot_comment(number, f"{COMMENT_MARKER}\nwill be retried\n" + render_record({
            "issue": number, "phase": "result", "outcome": "failed", "at": stamp(failed_at),
            "attempts": 1, "images": []}))


def test_index_over_10000_records_costs_one_request_per_100_issues(
        github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {**github_env(github), "MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"),
           "MIRROR_REGISTRY": "m.example.io"}
    namer = load_config(env).namer
    for n in range(10_000):
        source = f"docker.io/library/app-{n}:1.0"
        add_mirrored(github, source, str(namer.target(parse(source))), f"sha256:{n:064x}")
    add_failing(github, 300, datetime.now(UTC))
    github.reset_log()
    use_env(monkeypatch, env)
    assert main(["index", "--json", str(tmp_path / "index.json")]) == 0
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index["images"]) == 10_000 and len(index["queue"]) == 300
    # 10,300 request issues: 103 GraphQL pages (1 point each), and one for follow's tracking
    # issues (none here); the queue: 3 REST pages.
    assert Counter(github.log) == {("POST", "/graphql"): 104, ("GET", "/repos/acme/mirror/issues"): 3}
    assert github.graphql_points == [1] * 104
    assert github.writes() == []


def test_sweep_over_300_failing_requests_not_due_reads_3_pages_and_writes_nothing(
        github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    add_failing(github, 300, datetime.now(UTC) - timedelta(minutes=5))  # due in 25 minutes
    github.reset_log()
    use_env(monkeypatch, {**github_env(github), "MIRROR_REGISTRY": "m.example.io",
                          "MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml")})
    assert main(["sweep"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 300 and all(": wait (attempt 2 is due at" in line for line in lines)
    assert github.log == [("POST", "/graphql")] * 3  # nothing per issue
    assert github.graphql_points == [2, 2, 2]
    assert github.writes() == []


def test_one_issues_costs(github: GitHubStandIn) -> None:
    """What the per-issue paths cost: the README's table."""
    forge = GitHubForge(github.repository, github.token, github.base_url,
                        seconds_between_writes=None)
    issue = IssueSnapshot.from_payload(github.add_issue("nginx:1"))
    github.reset_log()
    assert forge.find_bot_comment(issue) is None  # a new issue's payload says: no comments
    assert github.log == []
    created = forge.create_comment(issue, f"{COMMENT_MARKER}\nsyncing")
    for n in range(150):
        github.add_comment(1, f"+1 ({n})", "bystander")
    github.reset_log()
    assert [c.id for c in forge.bot_comments(issue)] == [created.id]
    assert len(github.log) == 2  # 151 comments: two pages
    github.reset_log()
    forge.rewrite_comment(created.id, lambda body: body + " moved")
    assert github.log == [("GET", f"/repos/acme/mirror/issues/comments/{created.id}"),
                          ("PATCH", f"/repos/acme/mirror/issues/comments/{created.id}")]


def test_the_per_user_cap_costs_one_request_per_100_earlier_requests(github: GitHubStandIn) -> None:
    """The cap counts the author's earlier open requests with the issue list (`creator=`,
    `labels=`), never with search, whose index lags behind a burst (issue 27 item 4): one
    request, and one more per 100 only while a whole page is earlier."""
    forge = GitHubForge(github.repository, github.token, github.base_url,
                        seconds_between_writes=None)
    for author in ["alice"] * 3 + ["bob"] + ["alice"] * 200:
        github.add_issue("nginx:1", author=author)
    github.reset_log()
    assert forge.open_requests_by("alice", "sync image", before=4) == 3
    assert github.log == [("GET", "/repos/acme/mirror/issues")]
    github.reset_log()
    assert forge.open_requests_by("alice", "sync image", before=205) == 203
    assert github.log == [("GET", "/repos/acme/mirror/issues")] * 3


def test_resync_through_pygithub_rewrites_a_moved_record_for_two_requests(
        testbed: Sandbox, github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch,
        name: str, tmp_path: Path) -> None:
    testbed.seed(name)
    config = testbed.config()
    source = parse(f"docker.io/library/{name}:1.0")
    first = testbed.syncer().sync(SyncItem(source, config.namer.target(source)))
    number = add_mirrored(github, str(source), str(first.target), str(first.digest))
    moved = testbed.seed(name, seed="moved")
    github.reset_log()
    use_env(monkeypatch, testbed.env(**github_env(github)))
    assert main(["resync", "--output", str(tmp_path / "report.json")]) == 0
    [row] = json.loads((tmp_path / "report.json").read_text())["results"]
    assert (row["status"], row["digest"]) == ("copied", moved.index_digest)
    [comment] = github.bot_comments(number)
    assert moved.index_digest in comment["body"] and str(first.digest) not in comment["body"]
    comment_path = f"/repos/acme/mirror/issues/comments/{comment['id']}"
    assert github.log == [("POST", "/graphql"), ("POST", "/graphql"),  # requests, follow's
                          ("GET", "/repos/acme/mirror/issues"),
                          ("GET", comment_path), ("PATCH", comment_path)]


def test_the_stand_in_prices_queries_by_githubs_documented_formula() -> None:
    """GitHub's worked example: 1 + 100 + 100 x 50 = 5,101 requests -> 51 points; and ours."""
    from graphql import parse as parse_graphql

    from bot.forge.queries import OPEN_REQUESTS, RECORDS
    from sandbox.github_graphql import points

    documented = """query { viewer { login repositories(first: 100) { edges { node { id
        issues(first: 50) { edges { node { id labels(first: 60) { edges { node { id name }
        } } } } } } } } } }"""
    assert points(parse_graphql(documented), {}) == 51
    assert points(parse_graphql(RECORDS), {"comments": 10}) == 1  # 1 + 100
    assert points(parse_graphql(OPEN_REQUESTS), {"comments": 10}) == 2  # 1 + 100 + 100


def push_tags(testbed: Sandbox, repository: str, tags: list[str]) -> str:
    """Tag what `repository:1.0` holds as each of `tags`, upstream and at the mirror (a manifest
    PUT each: the blobs are there already); the index's digest."""
    upstream = f"http://{testbed.upstream.host}/v2/{repository}/manifests"
    accept = "application/vnd.oci.image.index.v1+json"
    with urllib.request.urlopen(urllib.request.Request(f"{upstream}/1.0", headers={"Accept": accept}),
                                timeout=10) as answer:
        manifest, media_type = answer.read(), answer.headers["Content-Type"]
    login = base64.b64encode(f"{MIRROR_USER}:{MIRROR_PASSWORD}".encode()).decode()
    mirror_auth = {"Authorization": f"Basic {login}"}
    for host, auth in ((testbed.upstream.host, {}), (testbed.mirror.host, mirror_auth)):
        for tag in tags:
            urllib.request.urlopen(urllib.request.Request(
                f"http://{host}/v2/{repository}/manifests/{tag}", data=manifest, method="PUT",
                headers={"Content-Type": media_type, **auth}), timeout=10).close()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def test_resync_shards_share_one_record_update_budget_per_run(
        testbed: Sandbox, github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch,
        name: str, tmp_path: Path) -> None:
    """120 records that lag behind what the mirror serves: every shard wants to rewrite all of
    its own, yet a run of 8 shards with a budget of 30 rewrites 30 (2 REST requests each, each
    shard its part), and the next run, in the shards its index plans, catches up within the
    default budget: each record rewritten once. Docker Hub's images (settings.quota_registries'
    default) share one shard."""
    config = testbed.config()
    sources = {}  # source -> the digest upstream and the mirror serve
    for registry, repository in (("docker.io", f"library/{name}"), ("ghcr.io", f"acme/{name}")):
        testbed.seed(name if registry == "docker.io" else repository, prefix=registry)
        source = parse(f"{registry}/{repository}:1.0")
        assert testbed.syncer().sync(SyncItem(source, config.namer.target(source))).status == "copied"
        tags = [f"t{n}" for n in range(60)]
        digest = push_tags(testbed, f"{registry}/{repository}", tags)
        sources |= {f"{registry}/{repository}:{tag}": digest for tag in tags}
    lagging = "sha256:" + "e" * 64  # what the records say; the mirror serves `digest`
    comments = {}  # the path of each record's comment -> its issue, and the digest it should say
    for source, digest in sources.items():
        number = add_mirrored(github, source, str(config.namer.target(parse(source))), lagging)
        [comment] = github.bot_comments(number)
        comments[f"/repos/acme/mirror/issues/comments/{comment['id']}"] = (number, digest)
    use_env(monkeypatch, testbed.env(**github_env(github)))

    def run(shards: int | None, *budget: str) -> list[dict]:
        """One resync run as resync.yml makes it: the index and its plan, then every shard."""
        index, plan = tmp_path / "index.json", tmp_path / "plan"
        plan.write_text("")
        assert main(["index", "--json", str(index), "--shard-plan", str(plan)]) == 0
        outputs = dict(line.split("=", 1) for line in plan.read_text().splitlines())
        count = shards or int(outputs["count"])
        assert json.loads(outputs["shards"]) == list(range(int(outputs["count"])))
        reports = []
        for shard in range(count):
            github.reset_log()
            report = tmp_path / f"report-{shard}.json"
            assert main(["resync", "--index", str(index), "--shard", f"{shard}/{count}",
                         *budget, "--output", str(report)]) == 0
            reports.append(json.loads(report.read_text()))
            made = reports[-1]["record_updates"]["made"]
            # each update is a read and an edit of the record's comment; nothing else is sent
            assert Counter(method for method, _ in github.log) == (
                {"GET": made, "PATCH": made} if made else {})
            patched.extend(path for method, path in github.log if method == "PATCH")
        return reports

    patched: list[str] = []
    first = run(8, "--record-updates", "30")
    assert sum(r["record_updates"]["allowed"] for r in first) == 30
    assert [r["record_updates"]["made"] for r in first] == [r["record_updates"]["allowed"] for r in first]
    assert len(patched) == 30
    hub = {row["target"] for row in first[0]["results"]}  # shard 0: Docker Hub's, every one
    assert len(hub) == 60 and all("/docker.io/" in target for target in hub)
    assert all(row["status"] == "unchanged" for r in first for row in r["results"])
    assert sum(row.get("note") == "record update deferred to the next resync"
               for r in first for row in r["results"]) == 90

    second = run(None)  # the plan: Docker Hub's shard and one for the other 60 images
    assert [r["record_updates"]["allowed"] for r in second] == [50, 50]  # the default: 100
    assert sum(r["record_updates"]["made"] for r in second) == 90
    assert sorted(patched) == sorted(comments)  # every record once, none twice
    assert all(digest in github.bot_comments(n)[0]["body"] and lagging not in
               github.bot_comments(n)[0]["body"] for n, digest in comments.values())
    assert sum(r["record_updates"]["made"] for r in run(None)) == 0  # caught up: no writes
