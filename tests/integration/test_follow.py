"""`mirror-bot follow` and `check-subscriptions` on real registries, real skopeo, and the GitHub
stand-in through real PyGithub: exactly the selected tags are mirrored, the allowlist applies to
each, new tags are capped, a run with nothing new copies and writes nothing, and the records
live only in the bot's own comment on the bot's own tracking issue."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.flows.follow import choose
from bot.flows.follow_records import FOLLOW_LABEL, GITHUB_COMMENT_LIMIT, RecordWriter
from bot.flows.index_page import build_index
from bot.forge.github import GitHubForge
from bot.forge.local import LocalForge
from bot.forge.protocol import COMMENT_MARKER
from bot.image.reference import parse
from bot.policy.subscriptions import Subscription
from bot.policy.tags import TagRules
from bot.records.record import (
    MAX_IMAGES,
    MAX_RECORD_LENGTH,
    Outcome,
    Phase,
    RecordedImage,
    ResultRecord,
    read,
)
from sandbox.github_standin import Fault, GitHubStandIn
from sandbox.registries import Registry
from tests.fixtures import REPO_ROOT, Sandbox

# Semver, a pre-release, a variant, and tags that are no version at all.
TAGS = ("1.26.0", "1.27.0", "1.27.1", "1.28.0-rc.1", "1.27.1-alpine", "latest", "mainline", "2.0.0")
IMAGE = "docker.io/library/follow-tags"
OTHER = "docker.io/library/follow-other"  # 3.0.0 and 3.1.0
SEMVER_127 = f"""subscriptions:
  - image: {IMAGE}
    tags:
      semver: ">=1.26.0 <1.28.0"
      include: [mainline]
"""


@pytest.fixture(scope="module")
def upstream(testbed: Sandbox) -> dict[str, str]:
    """The upstream tags of both repositories, each tag its own image: tag -> digest."""
    digests = {}
    for tag in TAGS:
        digests[tag] = testbed.seed("follow-tags", tag=tag, seed=f"follow-{tag}",
                                    platforms=("linux/amd64",), layer_sizes=(512,)).index_digest
    for tag in ("3.0.0", "3.1.0"):
        digests[f"other:{tag}"] = testbed.seed("follow-other", tag=tag, seed=f"other-{tag}",
                                               platforms=("linux/amd64",),
                                               layer_sizes=(512,)).index_digest
    return digests


class Site:
    """One test's mirror namespace, allowlist and subscriptions, and the follow command."""

    def __init__(self, testbed: Sandbox, tmp_path: Path, name: str, *, cap: int = 50,
                 deny: tuple[str, ...] = (), language: str = "en") -> None:
        self.testbed, self.tmp_path, self.name = testbed, tmp_path, name.strip("-")
        self.mirror = f"{testbed.mirror.host}/{self.name}"  # the test's own namespace there
        denied = "".join(f"  - {rule}\n" for rule in ("docker.io/library/forbidden", *deny))
        self.allowlist = tmp_path / "allowlist.yaml"
        self.allowlist.write_text(f"allow:\n  - docker.io/library/*\ndeny:\n{denied}"
                                  f"settings:\n  max_new_tags_per_follow: {cap}\n"
                                  f"  language: {language}\n")
        self.subscriptions = tmp_path / "subscriptions.yaml"
        self.forge_dir = tmp_path / "forge"
        self.extra: dict[str, str] = {}
        self.digests: dict[str, str] = {}  # the upstream tags' digests
        self.log = ""  # what the last follow printed on stderr

    def env(self) -> dict[str, str]:
        return self.testbed.env(MIRROR_REGISTRY=self.mirror, MIRROR_ALLOWLIST=str(self.allowlist),
                                MIRROR_SUBSCRIPTIONS=str(self.subscriptions), **self.extra)

    def use_github(self, github: GitHubStandIn) -> None:
        self.extra = {"GITHUB_REPOSITORY": github.repository, "GITHUB_TOKEN": github.token,
                      "GITHUB_API_URL": github.base_url, "MIRROR_GITHUB_WRITE_INTERVAL": "0",
                      "MIRROR_GITHUB_BACKOFF": "0.01", "MIRROR_GITHUB_SECONDARY_WAIT": "1"}
        self.forge_dir = None  # type: ignore[assignment]

    def follow(self, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, dict]:
        local = ["--local-forge", str(self.forge_dir)] if self.forge_dir else []
        code = main(["follow", "--json", *local, *options], self.env())
        captured = capsys.readouterr()
        assert captured.out, captured.err
        self.log = captured.err
        return code, json.loads(captured.out)

    def target(self, image: str, tag: str) -> str:
        return f"{self.mirror}/{image}:{tag}"

    def mirror_tags(self, image: str) -> set[str]:
        from bot.errors import TransferError

        try:
            return set(self.testbed.client().list_tags(parse(f"{self.mirror}/{image}")))
        except TransferError:
            return set()  # nothing pushed there yet


SiteFactory = Callable[..., "Site"]


@pytest.fixture
def new_site(testbed: Sandbox, upstream: dict[str, str], tmp_path: Path, name: str) -> SiteFactory:
    """A Site in the test's own mirror namespace, over the seeded upstream tags."""
    def make(**options: object) -> Site:
        site = Site(testbed, tmp_path, name, **options)  # type: ignore[arg-type]
        site.digests = upstream
        return site
    return make


def only(run: dict, image: str = IMAGE) -> dict:
    [subscription] = [s for s in run["subscriptions"] if s["image"] == image]
    return subscription


def over_budget(tag: str) -> dict:
    """A tag `follow --json` lists as deferred for the run's budget of new tags."""
    return {"tag": tag, "reason": "max_new_tags_per_follow", "resume_after": None}


def manifest_puts(testbed: Sandbox) -> list[str]:
    return [path for method, path, _ in testbed.mirror.requests()
            if method == "PUT" and "/manifests/" in path]


def answered_manifest_requests(registry: Registry) -> Counter[str]:
    return Counter(method for method, path, status in registry.requests()
                   if "/manifests/" in path and status != 401)


def tracking_record(forge: LocalForge, number: int) -> ResultRecord:
    [comment] = [c for c in forge.comments_on(number) if c["author"] == forge.bot_login]
    record = read(comment["body"])
    assert record is not None
    return record


# -- selection, the allowlist, the cap ---------------------------------------------------------

def test_a_subscription_mirrors_exactly_the_selected_tags_and_records_them(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text(SEMVER_127)
    code, run = site.follow(capsys)
    assert code == 0
    result = only(run)
    # no pre-release, no variant, no 2.x, no `latest`: what the range says, plus `include`
    assert result["selected"] == ["1.27.1", "1.27.0", "1.26.0", "mainline"]
    assert [(s["tag"], s["status"], s["digest"]) for s in result["synced"]] == [
        (tag, "copied", site.digests[tag]) for tag in result["selected"]]
    assert (result["denied"], result["deferred"], result["error"]) == ([], [], None)
    assert site.mirror_tags(IMAGE) == set(result["selected"])
    # the record: the bot's one comment on the bot's own closed, locked tracking issue
    forge = LocalForge(site.forge_dir, echo=False)
    [issue] = forge.issues_with_label(FOLLOW_LABEL)
    assert (issue.number, issue.title, issue.author, issue.state, issue.locked) == (
        result["tracking_issue"], f"follow: {IMAGE}", forge.bot_login, "closed", True)
    record = tracking_record(forge, issue.number)
    assert (record.issue, str(record.outcome)) == (issue.number, "mirrored")
    assert [(i.source, i.target, i.digest) for i in record.images] == [
        (f"{IMAGE}:{tag}", site.target(IMAGE, tag), site.digests[tag]) for tag in result["selected"]]
    assert all(i.first_sync == record.at for i in record.images)
    body = forge.comments_on(issue.number)[0]["body"]
    assert body.startswith(COMMENT_MARKER) and f"`{site.target(IMAGE, '1.27.1')}`" in body


def test_a_range_that_names_a_pre_release_admits_it(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text(f"subscriptions:\n  - image: {IMAGE}\n    tags:\n"
                                  f"      semver: '>=1.28.0-rc.0'\n  - image: {OTHER}\n"
                                  f"    tags:\n      match: '1.27.*-alpine'\n")
    code, run = site.follow(capsys, "--dry-run")
    assert code == 0
    assert only(run)["selected"] == ["2.0.0", "1.28.0-rc.1"]
    assert only(run, OTHER)["selected"] == []  # a glob no tag of it matches


def test_a_denied_tag_is_reported_and_never_copied(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site(deny=(f"{IMAGE}:*-rc*",))
    site.subscriptions.write_text(f"subscriptions:\n  - image: {IMAGE}\n    tags:\n"
                                  f"      match: '1.2[78]*'\n")
    site.testbed.mirror.mark()
    code, run = site.follow(capsys)
    assert code == 0  # a refusal is reported; nothing failed
    result = only(run)
    assert result["selected"] == ["1.28.0-rc.1", "1.27.1", "1.27.1-alpine", "1.27.0"]
    assert [d["tag"] for d in result["denied"]] == ["1.28.0-rc.1"]
    assert f"{IMAGE}:*-rc*" in result["denied"][0]["reason"]
    assert [s["tag"] for s in result["synced"]] == ["1.27.1", "1.27.1-alpine", "1.27.0"]
    assert site.mirror_tags(IMAGE) == {"1.27.1", "1.27.1-alpine", "1.27.0"}
    assert not any("rc" in path for path in manifest_puts(site.testbed))


def test_new_tags_are_capped_across_subscriptions_and_the_rest_wait_for_the_next_run(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site(cap=3)
    site.subscriptions.write_text(SEMVER_127 + f"  - image: {OTHER}\n    tags:\n      latest: 5\n")
    code, first = site.follow(capsys)
    assert code == 0
    # newest first: three new tags this run, over both subscriptions
    assert [s["tag"] for s in only(first)["synced"]] == ["1.27.1", "1.27.0", "1.26.0"]
    assert only(first)["deferred"] == [over_budget("mainline")]
    assert (only(first, OTHER)["synced"], only(first, OTHER)["deferred"]) == (
        [], [over_budget("3.1.0"), over_budget("3.0.0")])
    assert only(first, OTHER)["tracking_issue"] is None  # nothing to record yet: no issue
    forge = LocalForge(site.forge_dir, echo=False)
    first_record = tracking_record(forge, only(first)["tracking_issue"])

    code, second = site.follow(capsys)
    assert code == 0
    # recorded tags are always re-checked; the waiting ones come in, newest first
    assert [(s["tag"], s["status"]) for s in only(second)["synced"]] == [
        ("1.27.1", "unchanged"), ("1.27.0", "unchanged"), ("1.26.0", "unchanged"),
        ("mainline", "copied")]
    assert [(s["tag"], s["status"]) for s in only(second, OTHER)["synced"]] == [("3.1.0", "copied"),
                                                                               ("3.0.0", "copied")]
    assert only(second)["deferred"] == only(second, OTHER)["deferred"] == []
    record = tracking_record(forge, only(second)["tracking_issue"])
    first_syncs = {i.source: i.first_sync for i in first_record.images}
    assert all(i.first_sync == first_syncs.get(i.source, record.at) for i in record.images)
    assert record.images[-1].source == f"{IMAGE}:mainline"


def test_a_second_run_with_nothing_new_copies_nothing_and_writes_nothing(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text(SEMVER_127)
    assert site.follow(capsys)[0] == 0
    state = (site.forge_dir / "state.json").read_text()
    site.testbed.mirror.mark()
    site.testbed.upstream.mark()
    code, run = site.follow(capsys)
    assert code == 0
    assert {s["status"] for s in only(run)["synced"]} == {"unchanged"}
    # one manifest HEAD upstream per tag, and one at the mirror per address (an official image
    # is served as docker.io/library/NAME and docker.io/NAME; the mirror's first answer is its
    # password challenge, drawn once though an image's two addresses are asked at once); no
    # GET (no pull), no PUT; upstream, each tag's no-op check of what hangs off its digest
    # (issue 26): the referrers tag schema's sha256-<hex> and cosign's .sig/.att/.sbom, HEADs
    assert answered_manifest_requests(site.testbed.mirror) == Counter({"HEAD": 8})
    assert answered_manifest_requests(site.testbed.upstream) == Counter({"HEAD": 4 * (1 + 1 + 3)})
    assert site.testbed.mirror.manifest_requests() == Counter({"HEAD": 9})
    assert (site.forge_dir / "state.json").read_text() == state  # the record is not rewritten


def test_a_broken_record_on_the_tracking_issue_is_rewritten_in_the_sites_language(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site(language="zh-CN")
    site.subscriptions.write_text(SEMVER_127)
    assert site.follow(capsys)[0] == 0
    forge = LocalForge(site.forge_dir, echo=False)
    [issue] = forge.issues_with_label(FOLLOW_LABEL)
    [comment] = forge.bot_comments(issue)
    assert "跟踪" in comment.body and "镜像地址" in comment.body
    forge.edit_comment(issue, comment, f"{COMMENT_MARKER}\n<!-- mirror-bot:result {{broken -->\n")
    code, run = site.follow(capsys)
    assert code == 0 and {s["status"] for s in only(run)["synced"]} == {"unchanged"}
    assert "follow will rewrite the record on issue #1" in site.log
    record = tracking_record(forge, issue.number)
    assert [i.source for i in record.images] == [f"{IMAGE}:{t}" for t in only(run)["selected"]]
    assert forge.comments_on(issue.number)[0]["body"].rstrip().endswith(record.render())


def test_a_full_record_with_long_names_still_fits_a_github_comment(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path, echo=False)
    source = f"docker.io/library/{'a' * 110}"  # about as long as a full record's bound allows
    images = [RecordedImage(f"{source}:1.0.{n}", f"m.example.io/{source}:1.0.{n}",
                            "sha256:" + f"{n:064x}", (), "2026-11-01T00:00:00Z")
              for n in range(MAX_IMAGES)]
    number = RecordWriter(forge).write(source, None, images)
    [comment] = forge.bot_comments(forge.issues_with_label(FOLLOW_LABEL)[0])
    record = read(comment.body)
    assert record is not None and record.issue == number and list(record.images) == images
    table = sum(len(f"| `{i.source[-5:]}` | `{i.target}` | `{i.digest}` |\n") for i in images)
    assert len(record.render()) + table > GITHUB_COMMENT_LIMIT  # a table would not fit
    assert len(comment.body) <= GITHUB_COMMENT_LIMIT
    assert "100 tags are mirrored, too many to list here" in comment.body


def test_more_tags_than_a_record_holds_are_reported(testbed: Sandbox, tmp_path: Path) -> None:
    config = testbed.config()
    many = [f"1.0.{n}" for n in range(MAX_IMAGES + 20)]
    subscription = Subscription("docker.io", "library/many", TagRules(semver=">=1.0.0"))
    following = choose(subscription, config, lambda _repository: many, None, new_budget=500)
    assert len(following.to_sync) == MAX_IMAGES and len(following.over_limit) == 20
    assert following.to_sync[0] == f"1.0.{MAX_IMAGES + 19}"  # the newest are kept
    assert following.over_limit[-1] == "1.0.0"


def test_no_more_tags_than_the_record_can_hold_are_followed(testbed: Sandbox) -> None:
    """Issue 27 item 2: long names make a record of 100 tags pass 48 KB; the newest that fit
    are followed, the rest reported, and the record of what is followed renders."""
    config = testbed.config()
    many = [f"1.0.{n}" for n in range(MAX_IMAGES)]
    subscription = Subscription("docker.io", f"library/{'b' * 160}", TagRules(semver=">=1.0.0"))
    following = choose(subscription, config, lambda _repository: many, None, new_budget=500)
    assert 50 < len(following.to_sync) < MAX_IMAGES
    assert following.to_sync[0] == f"1.0.{MAX_IMAGES - 1}"  # the newest are kept
    assert len(following.to_sync) + len(following.over_limit) == MAX_IMAGES
    images = [RecordedImage(str(subscription.reference(tag)),
                            str(config.namer.target(subscription.reference(tag))),
                            "sha256:" + "f" * 64, (), "2026-11-01T00:00:00Z")
              for tag in following.to_sync]
    record = ResultRecord(1, Phase.RESULT, "2026-11-01T00:00:00Z", Outcome.MIRRORED,
                          images=tuple(images))
    assert len(record.render()) <= MAX_RECORD_LENGTH


def test_a_failed_listing_fails_its_subscription_and_the_others_go_on(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    absent = f"docker.io/library/{site.name}-absent"
    site.subscriptions.write_text(f"subscriptions:\n  - image: {absent}\n"
                                  f"    tags:\n      latest: 1\n" + SEMVER_127.split("\n", 1)[1])
    code, run = site.follow(capsys)
    assert code == 1
    failed = only(run, absent)
    assert failed["error"]["kind"] == "not_found" and failed["synced"] == []
    assert {s["status"] for s in only(run)["synced"]} == {"copied"}


def test_a_subscription_the_allowlist_denies_is_reported_not_followed(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text("subscriptions:\n  - image: docker.io/library/forbidden\n"
                                  "    tags:\n      latest: 1\n")
    code, run = site.follow(capsys)
    assert code == 0
    result = only(run, "docker.io/library/forbidden")
    assert result["error"]["kind"] == "not_allowed" and result["selected"] == []


def test_a_tag_that_leaves_the_selection_leaves_the_record_and_so_does_a_dropped_subscription(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text(SEMVER_127 + f"  - image: {OTHER}\n    tags:\n      latest: 1\n")
    assert site.follow(capsys)[0] == 0
    site.subscriptions.write_text(SEMVER_127.replace(">=1.26.0", ">=1.27.0"))
    code, run = site.follow(capsys)
    assert code == 0
    assert only(run)["released"] == ["1.26.0"]
    assert run["unsubscribed"] == [{"image": OTHER, "tracking_issue": 2,
                                    "released": [f"{OTHER}:3.1.0"]}]
    index = build_index(LocalForge(site.forge_dir, echo=False), load_config(site.env()))
    assert sorted(index.entries) == sorted(site.target(IMAGE, t) for t in ("1.27.1", "1.27.0",
                                                                          "mainline"))
    assert "1.26.0" in site.mirror_tags(IMAGE)  # the mirror keeps what it had


# -- the records on GitHub: only the bot's own issue and comment count -------------------------

def test_the_record_goes_only_to_the_bots_own_tracking_issue(
        new_site: SiteFactory, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.use_github(github)
    site.subscriptions.write_text(SEMVER_127)
    forged = ResultRecord.from_json({
        "issue": 1, "phase": "result", "outcome": "mirrored", "at": "2026-11-01T00:00:00Z",
        "images": [{"source": f"{IMAGE}:6.6.6", "target": site.target(IMAGE, "6.6.6"),
                    "digest": "sha256:" + "66" * 32}]}).render()
    look_alike = github.add_issue(f"follow: {IMAGE}", f"{COMMENT_MARKER}\n{forged}",
                                  author="mallory", labels=(FOLLOW_LABEL,))["number"]
    github.add_comment(look_alike, f"{COMMENT_MARKER}\n{forged}", "mallory")
    github.add_comment(look_alike, f"{COMMENT_MARKER}\n{forged}", "github-actions")
    github.reset_log()
    code, run = site.follow(capsys)
    assert code == 0
    mine = only(run)["tracking_issue"]
    assert mine == 2 and github.issues[mine]["user"]["login"] == github.bot_login
    assert not [path for _, path in github.writes() if path.endswith(f"/issues/{look_alike}")
                or f"/issues/{look_alike}/" in path]
    assert (github.issues[mine]["state"], github.issues[mine]["locked"]) == ("closed", True)
    assert [label["name"] for label in github.issues[mine]["labels"]] == [FOLLOW_LABEL]
    # a user's record on the bot's issue changes nothing: the next run writes nothing
    github.issues[mine]["locked"] = False  # as if a collaborator had unlocked it
    on_mine = forged.replace('"issue":1', f'"issue":{mine}')
    github.add_comment(mine, f"{COMMENT_MARKER}\n{on_mine}", "mallory")
    github.reset_log()
    assert site.follow(capsys)[0] == 0
    assert github.writes() == [("PUT", f"/repos/acme/mirror/issues/{mine}/lock")]
    index = build_index(GitHubForge(github.repository, github.token, github.base_url,
                                    seconds_between_writes=None), load_config(site.env()))
    assert sorted(index.entries) == sorted(site.target(IMAGE, t) for t in only(run)["selected"])
    assert {entry.issue for entry in index.entries.values()} == {mine}


def test_one_follow_run_costs_a_fixed_number_of_github_requests(
        new_site: SiteFactory, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site(cap=4)
    site.use_github(github)
    site.subscriptions.write_text(SEMVER_127 + f"  - image: {OTHER}\n    tags:\n      latest: 5\n")
    github.reset_log()
    assert site.follow(capsys)[0] == 0
    # read: one page of tracking issues, one GraphQL page of their comments; write, per new
    # subscription: open the issue, lock it, comment, close it
    assert github.log == [("GET", "/repos/acme/mirror/issues"), ("POST", "/graphql"),
                          ("POST", "/repos/acme/mirror/issues"),
                          ("PUT", "/repos/acme/mirror/issues/1/lock"),
                          ("POST", "/repos/acme/mirror/issues/1/comments"),
                          ("PATCH", "/repos/acme/mirror/issues/1")]
    github.reset_log()
    assert site.follow(capsys)[0] == 0  # OTHER's two tags now: a second tracking issue
    assert github.writes() == [("POST", "/repos/acme/mirror/issues"),
                               ("PUT", "/repos/acme/mirror/issues/2/lock"),
                               ("POST", "/repos/acme/mirror/issues/2/comments"),
                               ("PATCH", "/repos/acme/mirror/issues/2")]
    github.reset_log()
    assert site.follow(capsys)[0] == 0  # nothing new: two reads, no write
    assert github.log == [("GET", "/repos/acme/mirror/issues"), ("POST", "/graphql")]
    assert github.graphql_points == [1]


def test_github_failing_to_take_the_record_fails_the_run_and_the_next_run_records_it(
        new_site: SiteFactory, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.use_github(github)
    site.subscriptions.write_text(SEMVER_127)
    github.faults = [Fault(502, method="POST", path_contains="/repos/acme/mirror/issues")] * 10
    code, run = site.follow(capsys)
    assert code == 1
    assert only(run)["error"]["kind"] == "record"
    assert "create_issue failed" in only(run)["error"]["message"]
    assert {s["status"] for s in only(run)["synced"]} == {"copied"}  # the copies stand
    github.faults = []
    code, run = site.follow(capsys)
    assert code == 0 and {s["status"] for s in only(run)["synced"]} == {"unchanged"}
    assert only(run)["tracking_issue"] == 1 and len(github.bot_comments(1)) == 1


def test_a_dry_run_writes_nothing_anywhere(
        new_site: SiteFactory, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site(cap=2)
    site.use_github(github)
    site.subscriptions.write_text(SEMVER_127)
    site.testbed.mirror.mark()
    github.reset_log()
    code, run = site.follow(capsys, "--dry-run")
    assert code == 0 and run["dry_run"] is True
    assert [(s["tag"], s["status"]) for s in only(run)["synced"]] == [("1.27.1", "planned"),
                                                                     ("1.27.0", "planned")]
    assert only(run)["deferred"] == [over_budget("1.26.0"), over_budget("mainline")]
    assert github.writes() == [] and github.issues == {}
    assert site.testbed.mirror.requests() == []  # not even a look at the mirror
    assert site.mirror_tags(IMAGE) == set()


def test_the_text_report_says_what_happened(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site(cap=1, deny=(f"{IMAGE}:1.26*",))
    site.subscriptions.write_text(SEMVER_127)
    code = main(["follow", "--local-forge", str(site.forge_dir)], site.env())
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == f"{IMAGE}: 4 tag(s) selected; recorded on issue #1"
    assert out[1].startswith("  copied: 1.27.1 (sha256:")
    assert out[2].startswith("  denied: 1.26.0 (denied by rule")
    assert out[3] == ("  deferred: 1.27.0, mainline (new tags over "
                      "settings.max_new_tags_per_follow; the next run takes them)")


# -- index, status page and resync read follow's records like any other ----------------------

def test_the_index_and_resync_keep_follow_records_current(
        new_site: SiteFactory, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    repository = f"{site.name[:40].strip('-')}-moving"
    moving = f"docker.io/library/{repository}"
    site.testbed.seed(repository, tag="1.0.0", seed="before", platforms=("linux/amd64",))
    site.use_github(github)
    site.subscriptions.write_text(f"subscriptions:\n  - image: {moving}\n    tags:\n"
                                  "      semver: ^1\n")
    assert site.follow(capsys)[0] == 0
    assert main(["index", "--html", str(site.tmp_path / "site")], site.env()) == 0
    listed = json.loads((site.tmp_path / "site" / "index.json").read_text())["images"]
    assert [(i["source"], i["target"], i["issue"]) for i in listed] == [
        (f"{moving}:1.0.0", site.target(moving, "1.0.0"), 1)]
    assert site.target(moving, "1.0.0") in (site.tmp_path / "site" / "index.html").read_text()
    moved = site.testbed.seed(repository, tag="1.0.0", seed="after", platforms=("linux/amd64",))
    github.reset_log()
    assert main(["resync", "--output", str(site.tmp_path / "report.json")], site.env()) == 0
    [comment] = github.bot_comments(1)
    assert moved.index_digest in comment["body"]
    assert read(comment["body"]).images[0].digest == moved.index_digest
    github.reset_log()
    code, run = site.follow(capsys)  # follow sees the record resync rewrote: nothing to write
    assert code == 0 and only(run, moving)["synced"][0]["status"] == "unchanged"
    assert github.writes() == []


# -- check-subscriptions and bad files ---------------------------------------------------------

def test_check_subscriptions_reports_each_problem_with_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "subscriptions.yaml"
    path.write_text("subscriptions:\n"
                    "  - image: docker.io/library/nginx\n    tags: {latest: 2}\n"
                    "  - image: docker.io/library/forbidden\n    tags: {latest: 1}\n"
                    "  - image: docker.io/library/nginx\n    tags: {include: [mainline]}\n"
                    "  - image: docker.io/library/redis\n    tags: {latest: 0}\n")
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("allow:\n  - docker.io/library/*\ndeny:\n  - docker.io/library/forbidden\n")
    code = main(["check-subscriptions", str(path)], {"MIRROR_ALLOWLIST": str(allowlist)})
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[:3] == [
        f"{path}:4: docker.io/library/forbidden: denied by rule 'docker.io/library/forbidden' "
        f"({allowlist.name}:4); allow it in the allowlist or remove the subscription",
        f"{path}:6: docker.io/library/nginx is subscribed twice (first on line 2); merge the two",
        f"{path}:9: tags.latest: must be a whole number of at least 1"]
    assert err[3] == f"{path}: 3 problem(s); fix them and run check-subscriptions again"
    path.write_text("subscriptions:\n  - image: docker.io/library/nginx\n    tags: {latest: 2}\n")
    assert main(["check-subscriptions", str(path)], {"MIRROR_ALLOWLIST": str(allowlist)}) == 0
    assert capsys.readouterr().out == f"{path}: ok\n"


def test_the_starter_file_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"MIRROR_ALLOWLIST": str(REPO_ROOT / "allowlist.yaml"),
           "MIRROR_SUBSCRIPTIONS": str(REPO_ROOT / "subscriptions.yaml")}
    assert main(["check-subscriptions"], env) == 0


def test_follow_without_a_forge_says_one_line_and_does_nothing(
        new_site: SiteFactory, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text(SEMVER_127)
    site.testbed.mirror.mark()
    assert main(["follow"], site.env()) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "GITHUB_TOKEN" in captured.err
    assert site.testbed.mirror.requests() == []


@pytest.mark.parametrize("text", ["subscriptions: [", "subscriptions:\n  - image: nginx\n",
                                  "subscriptions:\n  - {image: docker.io/library/a, tags: {latest: 1}}\n"
                                  "  - {image: docker.io/library/a, tags: {latest: 2}}\n"])
def test_follow_with_a_bad_file_says_one_line_and_does_nothing(
        new_site: SiteFactory, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    site = new_site()
    site.subscriptions.write_text(text)
    site.testbed.mirror.mark()
    assert main(["follow", "--local-forge", str(site.forge_dir)], site.env()) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("mirror-bot follow: ") and str(site.subscriptions) in captured.err
    assert site.testbed.mirror.requests() == [] and not (site.forge_dir / "state.json").exists()
