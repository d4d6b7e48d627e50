"""Issue 23, case by case: a word becomes an image only when it was written as one.

Each title below was seen on a public tracker and was once read into an image nobody asked for,
or refused without the suggestion the user needed. Planned as `plan --json` plans them, with an
allowlist that allows every registry involved (so a refusal is the reader's own), and with the
shipped allowlist where the issue saw that one allow the wrong image.
"""

from __future__ import annotations

from typing import Any

from bot.flows.plan import plan_issue
from bot.image.reference import parse
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.naming import Namer
from bot.policy.suggest import not_found_suggestion
from bot.request.address import DEFAULT_MIRROR_PREFIXES
from tests.fixtures import REPO_ROOT

EVERY_REGISTRY, _ = parse_allowlist("allow:\n" + "".join(
    f"  - {registry}/**\n" for registry in (
        "docker.io", "ghcr.io", "quay.io", "gcr.io", "registry.k8s.io", "docker.iojonnyan404",
        "hub.docker.com", "docker.com")))
SHIPPED, _ = parse_allowlist((REPO_ROOT / "allowlist.yaml").read_text(encoding="utf-8"))
NAMER = Namer("m.example.io")


def plan(title: str, allowlist: Any = EVERY_REGISTRY) -> list[dict[str, Any]]:
    return plan_issue(title, "", allowlist, NAMER, DEFAULT_MIRROR_PREFIXES).to_json()["images"]


def only(title: str, allowlist: Any = EVERY_REGISTRY) -> dict[str, Any]:
    images = plan(title, allowlist)
    assert len(images) == 1, images
    return images[0]


def test_a_hub_search_filter_is_never_read_as_the_tag() -> None:
    image = only("hub.docker.com/_/mysql/tags?name=8.0.39")
    assert (image["decision"], image["source"]) == ("invalid", None)
    assert image["suggestion"] == "docker.io/library/mysql:8.0.39"
    assert any("search filter" in note for note in image["notes"]), image["notes"]
    nginx = only("https://hub.docker.com/_/nginx/tags?name=1.27", SHIPPED)
    assert (nginx["decision"], nginx["suggestion"]) == ("invalid", "docker.io/library/nginx:1.27")


def test_a_hub_page_without_a_search_still_means_latest() -> None:
    assert only("https://hub.docker.com/_/nginx?tab=tags")["source"] == "docker.io/library/nginx:latest"
    assert only("docker.io/xiaoyaliu/glue")["source"] == "docker.io/xiaoyaliu/glue:latest"


def test_a_hub_api_address_is_read_as_the_image_and_tag_it_names() -> None:
    image = only("https://hub.docker.com/v2/repositories/xiaoyaliu/glue/tags/latest")
    assert (image["decision"], image["source"]) == ("allowed", "docker.io/xiaoyaliu/glue:latest")
    assert image["notes"], image


def test_docker_pull_glued_to_a_host_is_read_as_a_command_word() -> None:
    image = only("docker.io/docker pull ddsderek/xiaoya-cron")
    assert (image["decision"], image["source"]) == ("allowed", "docker.io/ddsderek/xiaoya-cron:latest")
    assert any("docker pull" in note and "command" in note for note in image["notes"]), image
    shipped = plan("docker.io/docker pull ddsderek/xiaoya-cron", SHIPPED)
    assert [i["source"] for i in shipped if i["decision"] == "allowed"] == []
    assert "docker.io/library/docker:latest" not in {i["source"] for i in shipped}


def test_a_split_host_gets_a_did_you_mean_and_nothing_else() -> None:
    title = "docker. io/ChineseSubFinder/ChineseSubFinder:latest"
    image = only(title)
    assert (image["decision"], image["source"]) == ("invalid", None)
    assert image["suggestion"] == "docker.io/chinesesubfinder/chinesesubfinder:latest"
    assert only(title, SHIPPED)["decision"] == "invalid"


def test_a_glued_host_gets_a_did_you_mean_not_a_pull_request() -> None:
    image = only("docker.iojonnyan404/verysync:latest")
    assert (image["decision"], image["source"]) == ("invalid", None)
    assert image["suggestion"] == "docker.io/jonnyan404/verysync:latest"
    assert "pull request" not in image["reason"]


def test_a_space_before_the_tag_gets_a_did_you_mean() -> None:
    image = only("registry.k8s.io/conformance-amd64: v1.14")
    assert (image["decision"], image["source"]) == ("invalid", None)
    assert image["suggestion"] == "registry.k8s.io/conformance-amd64:v1.14"
    assert "'' is not a valid tag" not in image["reason"]


def test_a_shell_variable_is_never_read_as_the_tag() -> None:
    image = only("ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}")
    assert (image["decision"], image["source"]) == ("invalid", None)
    assert image["suggestion"] == "ghcr.io/immich-app/immich-server:release"
    assert "${IMMICH_VERSION:-release}" in image["reason"]


def test_a_tag_typo_is_read_literally_and_suggested_when_upstream_has_no_such_tag() -> None:
    image = only("nginx:lastest")
    assert (image["decision"], image["source"]) == ("allowed", "docker.io/library/nginx:lastest")
    assert str(not_found_suggestion(parse(image["source"]))) == "docker.io/library/nginx:latest"


def test_a_version_glued_to_a_name_is_read_literally_and_suggested_when_upstream_has_none() -> None:
    image = only("mysql8.0.28:latest")
    assert (image["decision"], image["source"]) == ("allowed", "docker.io/library/mysql8.0.28:latest")
    assert str(not_found_suggestion(parse(image["source"]))) == "docker.io/library/mysql:8.0.28"


def test_a_platform_written_as_an_image_is_refused() -> None:
    image = only("docker.io/linux/arm64:latest")
    assert (image["decision"], image["source"]) == ("invalid", None)
    assert "platform" in image["reason"] and "--platform" in image["reason"]


def test_suggestions_are_references_a_person_meant() -> None:
    titles = ["docker. io/ChineseSubFinder/ChineseSubFinder:latest",
              "docker.iojonnyan404/verysync:latest", "hub.docker.com/_/mysql/tags?name=8.0.39"]
    suggestions = [image["suggestion"] for title in titles for image in plan(title)]
    assert all(s and not s.startswith(("docker.io/io/", "io/")) for s in suggestions), suggestions
