"""`mirror-bot plan`: offline decisions per the contract's JSON shape."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.flows.plan import Expansion, Plan, cap_request, expand_pattern, plan_issue
from bot.image.reference import Reference, parse, parse_pattern
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.request.address import DEFAULT_MIRROR_PREFIXES

ALLOWLIST, _ = parse_allowlist(
    "allow:\n  - docker.io/library/*\n  - ghcr.io/fluxcd/flux-cli\n"
    "deny:\n  - docker.io/library/forbidden\n"
    "settings:\n  platforms: [linux/amd64, linux/arm64]\n")


NAMER = Namer("m.example.io")


def plan(title: str, body: str = "") -> list[dict]:
    return plan_issue(title, body, ALLOWLIST, NAMER, DEFAULT_MIRROR_PREFIXES).to_json()["images"]


def test_denied_names_the_rule() -> None:
    [image] = plan("docker.io/library/forbidden")
    assert image["decision"] == "denied" and "'docker.io/library/forbidden'" in image["reason"]


def test_near_miss_is_suggested() -> None:
    [image] = plan("ghcr.io/fluxcd/flux-cil:v2.4.0")
    assert image["decision"] == "denied"
    assert image["suggestion"] == "ghcr.io/fluxcd/flux-cli:v2.4.0"


def test_registry_typo_is_suggested() -> None:
    [image] = plan("docker.oi/library/nginx:1")
    assert image["suggestion"] == "docker.io/library/nginx:1"


def test_invalid_uppercase_gets_a_suggestion() -> None:
    [image] = plan("Nginx:1.27")
    assert image["decision"] == "invalid"
    assert image["suggestion"] == "docker.io/library/nginx:1.27"


def test_platforms_are_carried_and_checked() -> None:
    [image] = plan("nginx --platform=linux/arm64")
    assert image["platforms"] == ["linux/arm64"] and image["decision"] == "allowed"
    [refused] = plan("nginx --platform=linux/s390x")
    assert refused["decision"] == "invalid" and "not offered" in refused["reason"]


def test_mixed_request() -> None:
    decisions = [i["decision"] for i in plan("nginx evil.io/x Bad:1")]
    assert decisions == ["allowed", "denied", "invalid"]


K8S = parse_allowlist("allow:\n  - registry.k8s.io/**\n  - k8s.gcr.io/**\n")[0]


TAGGED, _ = parse_allowlist(
    "allow:\n  - docker.io/library/nginx:1.*\n  - ghcr.io/acme/*\n"
    "deny:\n  - docker.io/library/nginx:*-rc*\n  - ghcr.io/acme/secret\n")


def test_plan_json_carries_the_notes() -> None:
    [image] = plan("m.daocloud.io/docker.io/library/nginx:1.27")
    assert image["decision"] == "allowed" and image["source"] == "docker.io/library/nginx:1.27"
    assert image["notes"] == ["m.daocloud.io/ is another mirror's prefix; the image is requested "
                              "from its source registry"]


def test_k8s_gcr_io_is_planned_from_registry_k8s_io_when_allowed() -> None:
    [image] = plan_issue("k8s.gcr.io/pause:3.9", "", K8S, NAMER, DEFAULT_MIRROR_PREFIXES).images
    assert image.decision == "allowed" and str(image.source) == "registry.k8s.io/pause:3.9"
    assert str(image.target) == "m.example.io/registry.k8s.io/pause:3.9"
    assert [str(note) for note in image.notes] == [
        "k8s.gcr.io is frozen and redirected to registry.k8s.io by the Kubernetes project: "
        "mirrored from registry.k8s.io/pause:3.9"]


def test_k8s_gcr_io_is_refused_with_the_new_name_when_that_is_not_allowed() -> None:
    only_old = parse_allowlist("allow:\n  - k8s.gcr.io/**\n")[0]
    [image] = plan_issue("k8s-gcr.m.daocloud.io/pause:3.9", "", only_old, NAMER,
                         DEFAULT_MIRROR_PREFIXES).to_json()["images"]
    assert image["decision"] == "denied" and image["suggestion"] == "registry.k8s.io/pause:3.9"
    assert "frozen and redirected to registry.k8s.io" in image["reason"]
    assert image["notes"][0].startswith("k8s-gcr.m.daocloud.io/ is another mirror's address")


def test_a_tag_pattern_is_planned_unexpanded() -> None:
    result = plan_issue("docker.io/library/nginx:1.27.*", "", ALLOWLIST, NAMER, DEFAULT_MIRROR_PREFIXES)
    [image] = result.to_json()["images"]
    assert image == {
        "input": "docker.io/library/nginx:1.27.*",
        "source": "docker.io/library/nginx:1.27.*",
        "target": "m.example.io/docker.io/library/nginx:1.27.*",
        "platforms": "all", "decision": "allowed",
        "reason": "allowed by rule 'docker.io/library/*' (allowlist.yaml:2)",
        "suggestion": None, "pattern": True, "notes": [],
        "targets": ["m.example.io/docker.io/library/nginx:1.27.*"],
    }
    assert result.allowed == [] and len(result.patterns) == 1


def test_a_pattern_is_decided_on_its_repository() -> None:
    [narrowed] = plan_issue("nginx:1.27.*", "", TAGGED, NAMER, DEFAULT_MIRROR_PREFIXES).images
    assert narrowed.decision == "allowed" and "each tag must match '1.*'" in str(narrowed.reason)
    [denied] = plan_issue("ghcr.io/acme/secret:v*", "", TAGGED, NAMER, DEFAULT_MIRROR_PREFIXES).images
    assert denied.decision == "denied" and "ghcr.io/acme/secret" in str(denied.reason)
    [absent] = plan_issue("redis:7.*", "", TAGGED, NAMER, DEFAULT_MIRROR_PREFIXES).images
    assert absent.decision == "denied" and "not in" in str(absent.reason)
    assert not TAGGED.decide_repository(Reference("quay.io", "x/y")).allowed


def test_a_pattern_expands_to_one_decision_per_matching_tag() -> None:
    [pattern] = plan_issue("nginx:1.2*", "", TAGGED, NAMER, DEFAULT_MIRROR_PREFIXES).patterns
    tags = ["1.27.0", "1.27.1-rc1", "1.28.0", "1.3.0", "latest", "1.26.2", "1.2 bad"]
    planned = expand_pattern(pattern, tags, TAGGED, NAMER, cap=20)
    assert [(str(p.source), p.decision) for p in planned] == [
        ("docker.io/library/nginx:1.28.0", "allowed"), ("docker.io/library/nginx:1.27.1-rc1", "denied"),
        ("docker.io/library/nginx:1.27.0", "allowed"), ("docker.io/library/nginx:1.26.2", "allowed")]
    assert str(planned[-1].target) == "m.example.io/docker.io/library/nginx:1.26.2"
    assert all(p.pattern is None for p in planned)
    assert Plan(planned).allowed == [p for p in planned if p.decision == "allowed"]


def test_a_pattern_over_the_cap_is_invalid_with_the_count_and_first_matches() -> None:
    [pattern] = plan_issue("nginx:1.*", "", TAGGED, NAMER, DEFAULT_MIRROR_PREFIXES).patterns
    [refused] = expand_pattern(pattern, [f"1.{n}" for n in range(30)], TAGGED, NAMER, cap=20)
    assert refused.decision == "invalid" and refused.error_kind == "too_many_tags"
    assert str(refused.reason).startswith("'1.*' matches 30 tags, more than the 20")
    assert "first: 1.29, 1.28, 1.27, 1.26, 1.25" in str(refused.reason)


def test_a_popular_near_miss_is_suggested_even_when_allowed() -> None:
    [image] = plan("ngnix:1.27")
    assert image["decision"] == "allowed" and image["suggestion"] == "docker.io/library/nginx:1.27"
    assert image["notes"] == ["ngnix is one typo away from the official image nginx; if the copy "
                              "finds nothing, ask for docker.io/library/nginx:1.27"]
    [right] = plan("nginx:1.27")
    assert right["suggestion"] is None and right["notes"] == []


def test_a_title_naming_no_image_suggests_what_it_may_mean() -> None:
    [image] = plan("Please mirror nginx 1.27")
    assert image["decision"] == "invalid" and image["reason"].startswith("no image named")
    assert image["suggestion"] == "docker.io/library/nginx:1.27"
    [host] = plan("https://docker.m.daocloud.io")
    assert host["decision"] == "invalid" and "mirror's address" in host["reason"]


def test_an_image_id_is_invalid() -> None:
    [image] = plan("a" * 64)
    assert image["decision"] == "invalid" and "image ID" in image["reason"]


def test_tag_and_digest_stay_a_valid_request() -> None:
    digest = "sha256:" + "d" * 64
    [image] = plan(f"nginx:1.27@{digest}")
    assert image["decision"] == "allowed"
    assert image["source"] == f"docker.io/library/nginx:1.27@{digest}"
    assert image["target"] == f"m.example.io/docker.io/library/nginx:1.27@{digest}"


FRAGMENTS = [
    "nginx", "nginx:1.27", "docker pull", "[sync]", "SYNC IMAGE", "同步镜像", "：", "，", "、",
    "https://hub.docker.com/", "hub.docker.com/r/a/b/tags", "?tab=tags", "m.daocloud.io/",
    "docker.m.daocloud.io/", "k8s.gcr.io/pause:3.9", "--platform", "arm64", "(arm64)", "and",
    "&&", "Please", "*", "?", ":1.27.*", "@sha256:" + "e" * 64, "a" * 64, "docker.io/", "/v2/",
    "m.example.io/", "ghcr.io/fluxcd/flux-cli", "../", "-", "`", "\n", "### Image\n",
]


TITLES = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=8).map(
    "".join)


@settings(max_examples=300, deadline=None)
@given(TITLES, st.one_of(st.text(max_size=200), TITLES.map(lambda t: f"### Platform\n\n{t}")))
def test_no_title_or_body_crashes_plan_or_yields_a_source_outside_the_grammar(
        title: str, body: str) -> None:
    result = plan_issue(title, body, K8S if "k8s" in title else ALLOWLIST, NAMER, DEFAULT_MIRROR_PREFIXES)
    json.dumps(result.to_json())
    assert result.images
    for image in result.images:
        for ref in (image.source, image.target):
            assert ref is None or parse(str(ref)) == ref
        for pattern in (image.pattern, image.pattern_target):
            assert pattern is None or parse_pattern(str(pattern)) == pattern
        if image.decision == "allowed":
            assert (image.source and image.target) or (image.pattern and image.pattern_target)


def test_every_address_is_planned_and_people_see_the_form_they_wrote_first() -> None:
    namer = Namer("m.example.io", also=("cn.example.io",))
    [short] = plan_issue("nginx:1.27", "", ALLOWLIST, namer, DEFAULT_MIRROR_PREFIXES).images
    [canonical] = plan_issue("docker.io/library/nginx:1.27", "", ALLOWLIST, namer,
                             DEFAULT_MIRROR_PREFIXES).images
    assert [str(t) for t in short.targets] == [
        "m.example.io/docker.io/library/nginx:1.27", "m.example.io/docker.io/nginx:1.27",
        "cn.example.io/docker.io/library/nginx:1.27", "cn.example.io/docker.io/nginx:1.27"]
    assert str(short.addresses_for_people[0]) == "m.example.io/docker.io/nginx:1.27"
    assert str(canonical.addresses_for_people[0]) == "m.example.io/docker.io/library/nginx:1.27"
    assert short.to_json()["target"] == "m.example.io/docker.io/library/nginx:1.27"


def test_a_refusal_suggests_only_what_the_reader_meant_or_a_popular_hint() -> None:
    """Issue 23: no guess from the raw title (`115` was once `docker.io/library/115:latest`)."""
    for title in ("115", "ghcr.io", "docker.cn", "sha256:" + "c" * 64, "Docker Hub（v1）", "docker拉取"):
        [image] = plan(title)
        assert (image["decision"], image["suggestion"]) == ("invalid", None), title
    [hinted] = plan("Please mirror nginx 1.27")
    assert hinted["suggestion"] == "docker.io/library/nginx:1.27"
    [unpopular] = plan("请求同步Hive数仓镜像")
    assert unpopular["suggestion"] is None


def test_a_did_you_mean_is_offered_only_when_allowed() -> None:
    [allowed] = plan("docker0.io/library/nginx:1.27")
    assert (allowed["decision"], allowed["suggestion"]) == ("invalid", "docker.io/library/nginx:1.27")
    [not_allowed] = plan("docker0.io/acme/app:1")
    assert (not_allowed["decision"], not_allowed["suggestion"]) == ("invalid", None)


def test_an_allowed_tag_typo_carries_what_to_ask_for_if_upstream_has_none() -> None:
    [image] = plan("nginx:lastest")
    assert (image["decision"], image["source"]) == ("allowed", "docker.io/library/nginx:lastest")
    assert image["suggestion"] == "docker.io/library/nginx:latest" and image["notes"] == []
    [exact] = plan("nginx:1.27")
    assert exact["suggestion"] is None


# -- one cap across a request (issue 27 item 2) --------------------------------------------------

SIX_PATTERNS = "nginx:1.* redis:7.* httpd:2.* memcached:1.* postgres:16.* mysql:8.*"
WIDE, _ = parse_allowlist("allow:\n  - docker.io/library/*\nsettings:\n  max_images_per_issue: 100\n")


def expansions(title: str, tags: int) -> list[Expansion]:
    """Each image of `title` as planned, each pattern matching `tags` tags upstream."""
    planned = plan_issue(title, "", WIDE, NAMER, DEFAULT_MIRROR_PREFIXES).images
    return [Expansion(image, expand_pattern(
        image, [f"{image.pattern.glob[:-1]}{n}" for n in range(tags)], ALLOWLIST, NAMER, cap=20)
        if image.pattern else (image,)) for image in planned]


def test_six_patterns_of_nineteen_tags_are_refused_together_and_nothing_is_copied() -> None:
    named = expansions(SIX_PATTERNS, 19)
    assert [e.copies for e in named] == [19] * 6  # each pattern alone is under the cap
    capped = Plan(cap_request(named, 20, count_images=True))
    assert capped.allowed == [] and capped.patterns == []
    assert [(i.decision, i.error_kind) for i in capped.images] == [("invalid", "too_many_tags")] * 6
    assert str(capped.images[0].reason).startswith(
        "this request asks for 114 tags and images in all, more than the 20 one request")
    assert all(i.pattern is not None and i.pattern_target is None for i in capped.images)


def test_an_issue_counts_its_images_with_its_patterns_tags() -> None:
    named = expansions("nginx:1.* redis:7.2 httpd:2.4", 19)
    assert Plan(cap_request(named, 21, count_images=True)).allowed != []
    capped = Plan(cap_request(named, 20, count_images=True))
    assert capped.allowed == []  # 19 tags and 2 images: nothing is copied
    assert [str(i.source) for i in capped.images[1:]] == ["docker.io/library/redis:7.2",
                                                           "docker.io/library/httpd:2.4"]


def test_sync_counts_only_patterns_so_images_listed_still_copy() -> None:
    images = " ".join(f"nginx:1.{n}" for n in range(25))
    assert len(Plan(cap_request(expansions(images, 0), 20, count_images=False)).allowed) == 25
    named = expansions(f"{images} redis:7.* httpd:2.*", 11)
    capped = Plan(cap_request(named, 20, count_images=False))
    assert len(capped.allowed) == 25  # the images; both patterns (22 tags) refused
    assert [i.error_kind for i in capped.images if i.decision != "allowed"] == [
        "too_many_tags", "too_many_tags"]
    assert "the tag patterns match 22 tags in all" in str(capped.images[-1].reason)


def test_a_request_under_the_cap_is_left_as_expanded() -> None:
    named = expansions("nginx:1.* redis:7.*", 10)
    assert Plan(cap_request(named, 20, count_images=True)).images == tuple(
        image for e in named for image in e.images)
