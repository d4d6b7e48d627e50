"""Referrers, pure (bot/image/referrers.py): the tag schema, indexes compared as sets and merged
keeping what others wrote, the subject check, signature types and kinds, bounds; the settings
that choose them (file:line problems); tag selection that never takes an artifact tag."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.copy.referrers import said
from bot.image import referrers as r
from bot.image.oci import OCI_INDEX, OCI_MANIFEST, Manifest, digest_of
from bot.policy.allowlist_file import parse_allowlist
from bot.policy.settings import Settings
from bot.policy.tags import TagRules, check_tag, expand_pattern, select_tags
from bot.records.record import RecordedImage, RecordError

SUBJECT = "sha256:" + "5" * 64
OTHER = "sha256:" + "6" * 64
EMPTY = {"mediaType": r.EMPTY_CONFIG, "digest": digest_of(b"{}"), "size": 2}


def referrer(artifact_type: str, subject: str = SUBJECT, *, payload: bytes = b"x",
             annotations: dict[str, str] | None = None) -> Manifest:
    """A referrer manifest as cosign, notation or oras write one."""
    data = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": EMPTY,
            "layers": [{"mediaType": artifact_type, "digest": digest_of(payload), "size": len(payload)}],
            "subject": {"mediaType": OCI_INDEX, "digest": subject, "size": 500}}
    if annotations:
        data["annotations"] = annotations
    return Manifest.from_bytes(json.dumps(data).encode(), OCI_MANIFEST)


def index_of(*entries: object) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)}).encode()


# --- the tag schema and cosign's tags ----------------------------------------------------------

def test_the_tag_schema_names_a_digest_as_the_spec_says() -> None:
    assert r.referrers_tag(SUBJECT) == "sha256-" + "5" * 64
    # the spec cuts the algorithm to 32 characters and the encoded part to 64
    assert r.referrers_tag("sha512:" + "a" * 128) == "sha512-" + "a" * 64
    assert r.cosign_tags(SUBJECT) == {
        f"sha256-{'5' * 64}.sig": r.COSIGN_SIGNATURE,
        f"sha256-{'5' * 64}.att": r.COSIGN_ATTESTATION,
        f"sha256-{'5' * 64}.sbom": r.COSIGN_SBOM}
    assert list(r.cosign_tags(SUBJECT, r.Selection(r.Keep.SIGNATURES))) == [f"sha256-{'5' * 64}.sig"]
    assert r.cosign_tags(SUBJECT, r.Selection(r.Keep.NONE)) == {}


@pytest.mark.parametrize(("tag", "artifact"), [
    ("sha256-" + "a" * 64, True),
    ("sha256-" + "a" * 64 + ".sig", True),
    ("sha256-" + "a" * 64 + ".att", True),
    ("sha256-" + "a" * 64 + ".sbom", True),
    ("sha512-" + "b" * 64, True),
    ("sha256-" + "a" * 63, False),  # not a digest's
    ("sha256-" + "a" * 64 + ".tar", False),
    ("sha256-" + "A" * 64, False),
    ("1.27.3", False), ("latest", False), ("v1-sig", False), ("sha256", False),
])
def test_artifact_tags_are_told_from_image_tags(tag: str, artifact: bool) -> None:
    assert r.is_artifact_tag(tag) is artifact


# --- descriptors, indexes, merges --------------------------------------------------------------

def test_an_index_keeps_only_real_descriptors_each_once() -> None:
    good = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 10,
            "artifactType": r.NOTATION_SIGNATURE, "annotations": {"io.cncf.notary.x": "y"}}
    hostile = [
        "not an object", {"mediaType": OCI_MANIFEST, "digest": "sha256:short", "size": 1},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": -1},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": True},
        {"mediaType": "text/html", "digest": "sha256:" + "2" * 64, "size": 1},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": 1, "artifactType": 7},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": 1,
         "annotations": {"k": 1}},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "2" * 64, "size": 1,
         "annotations": {str(i): "v" for i in range(r.MAX_ANNOTATIONS + 1)}},
    ]
    index = r.ReferrersIndex.parse(index_of(good, *hostile, dict(good, size=11)))
    assert [d.digest for d in index.descriptors] == [good["digest"]]
    assert index.descriptors[0].artifact_type == r.NOTATION_SIGNATURE
    assert index.descriptors[0].annotations == {"io.cncf.notary.x": "y"}
    assert index.ignored == len(hostile)


@pytest.mark.parametrize("body", [b"", b"[]", b"{", b'{"manifests": {}}', "\u00ff".encode("latin-1"),
                                  json.dumps({"mediaType": OCI_MANIFEST, "manifests": []}).encode(),
                                  b" " * (r.MAX_INDEX_BYTES + 1)])
def test_what_is_no_index_is_an_error(body: bytes) -> None:
    with pytest.raises(r.ReferrersError):
        r.ReferrersIndex.parse(body)


def test_a_merge_keeps_every_entry_written_and_adds_ours_compared_as_sets() -> None:
    theirs = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 10,
              "artifactType": r.SIGSTORE_BUNDLE,
              "annotations": {r.BUNDLE_CONTENT: "dsse-envelope",
                              "org.opencontainers.image.created": "2024-03-08T18:18:20.406Z"},
              "x-unknown-field": "kept"}
    present = r.ReferrersIndex.parse(index_of(theirs))
    sbom = r.Descriptor.of(referrer("application/spdx+json"))
    signature = r.Descriptor.of(referrer(r.NOTATION_SIGNATURE))
    merged = present.merged([sbom, signature, sbom])
    assert [d.digest for d in merged.descriptors] == [theirs["digest"], sbom.digest, signature.digest]
    written = json.loads(merged.body())
    assert written["mediaType"] == OCI_INDEX and written["schemaVersion"] == 2
    assert written["manifests"][0] == theirs  # as the other writer wrote it, field for field
    assert written["manifests"][1]["artifactType"] == "application/spdx+json"
    again = r.ReferrersIndex.parse(merged.body())
    assert again.same_set(merged) and again.merged([signature]).body() == merged.body()
    # the same set in another order, other bytes: equal as sets, never by digest
    reordered = r.ReferrersIndex(tuple(reversed(merged.descriptors)))
    assert digest_of(reordered.body()) != digest_of(merged.body())
    assert reordered.same_set(merged)
    assert merged.missing([sbom, r.Descriptor.of(referrer("application/x", payload=b"y"))])[0] \
        .artifact_type == "application/x"


@given(st.lists(st.sampled_from("0123456789abcdef"), min_size=0, max_size=12),
       st.lists(st.sampled_from("0123456789abcdef"), min_size=0, max_size=12))
def test_a_merge_never_loses_an_entry(theirs: list[str], ours: list[str]) -> None:
    def descriptors(chars: list[str]) -> list[r.Descriptor]:
        return [r.Descriptor("sha256:" + c * 64, OCI_MANIFEST, 1) for c in chars]
    merged = r.ReferrersIndex(tuple(dict.fromkeys(descriptors(theirs)))).merged(descriptors(ours))
    assert merged.digests == {"sha256:" + c * 64 for c in theirs + ours}
    assert len(merged.descriptors) == len(merged.digests)


def test_a_descriptor_of_a_manifest_is_what_the_referrers_api_lists() -> None:
    manifest = referrer(r.SIGSTORE_BUNDLE, annotations={r.BUNDLE_CONTENT: "message-signature"})
    descriptor = r.Descriptor.of(manifest)
    assert descriptor.json() == {"mediaType": OCI_MANIFEST, "digest": manifest.digest,
                                 "size": len(manifest.body), "artifactType": r.SIGSTORE_BUNDLE,
                                 "annotations": {r.BUNDLE_CONTENT: "message-signature"}}
    assert descriptor.kind is r.Kind.SIGNATURE
    # no artifactType: the config's media type stands for it (the spec's rule)
    legacy = Manifest.from_bytes(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.thing", "digest": EMPTY["digest"], "size": 2},
        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": SUBJECT, "size": 1}}).encode())
    assert r.Descriptor.of(legacy).artifact_type == "application/vnd.example.thing"


# --- the subject, artifacts, charts ------------------------------------------------------------

def test_a_referrer_is_copied_only_when_its_bytes_name_the_subject() -> None:
    manifest = referrer(r.NOTATION_SIGNATURE)
    assert r.subject_of(manifest) == SUBJECT
    assert r.refers_to(manifest, SUBJECT) and not r.refers_to(manifest, OTHER)
    no_subject = Manifest.from_bytes(b'{"schemaVersion": 2, "layers": []}', OCI_MANIFEST)
    assert r.subject_of(no_subject) is None
    bad = Manifest.from_bytes(json.dumps({"subject": {"digest": "sha256:../../x"}}).encode(), OCI_MANIFEST)
    assert r.subject_of(bad) is None
    assert r.subject_of(Manifest.from_bytes(b"[1]", OCI_MANIFEST)) is None
    assert r.referrer_bytes(manifest) == len(manifest.body) + 2 + 1


def test_charts_and_artifacts_are_told_from_images() -> None:
    # helm push writes the chart's config with Helm's media type and no artifactType
    chart = Manifest.from_bytes(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": r.HELM_CONFIG, "digest": digest_of(b"c"), "size": 1},
        "layers": [{"mediaType": r.HELM_CHART_LAYER, "digest": digest_of(b"t"), "size": 1}]}).encode(),
        OCI_MANIFEST)
    image = Manifest.from_bytes(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(b"c"),
                   "size": 1}, "layers": []}).encode(), OCI_MANIFEST)
    assert r.is_chart(chart) and r.is_artifact(chart)
    assert not r.is_chart(image) and not r.is_artifact(image)
    assert r.is_artifact(referrer("application/vnd.wasm.config.v0+json"))
    index = Manifest.from_bytes(index_of(), OCI_INDEX)
    assert not r.is_artifact(index)


# --- what is kept, and what it is called --------------------------------------------------------

@pytest.mark.parametrize(("artifact_type", "annotations", "kind"), [
    (r.COSIGN_SIGNATURE, {}, r.Kind.SIGNATURE),
    (r.SIGSTORE_BUNDLE, {}, r.Kind.SIGNATURE),
    (r.SIGSTORE_BUNDLE, {r.BUNDLE_CONTENT: "message-signature"}, r.Kind.SIGNATURE),
    (r.SIGSTORE_BUNDLE, {r.BUNDLE_CONTENT: "dsse-envelope"}, r.Kind.ATTESTATION),
    ("application/vnd.dev.sigstore.bundle+json;version=0.2", {}, r.Kind.SIGNATURE),
    (r.NOTATION_SIGNATURE, {}, r.Kind.SIGNATURE),
    (r.COSIGN_ATTESTATION, {}, r.Kind.ATTESTATION),
    ("application/vnd.in-toto+json", {}, r.Kind.ATTESTATION),
    ("application/spdx+json", {}, r.Kind.SBOM),
    ("application/vnd.cyclonedx+json", {}, r.Kind.SBOM),
    (r.COSIGN_SBOM, {}, r.Kind.SBOM),
    ("application/vnd.example.readme", {}, r.Kind.OTHER),
    ("", {}, r.Kind.OTHER),
])
def test_kinds(artifact_type: str, annotations: dict[str, str], kind: r.Kind) -> None:
    assert r.kind_of(artifact_type, annotations) is kind


def test_a_selection_keeps_what_the_settings_say() -> None:
    spdx = "application/spdx+json"
    assert r.Selection().keeps(spdx) and r.Selection().keeps(r.NOTATION_SIGNATURE)
    signatures = r.Selection(r.Keep.SIGNATURES)
    assert signatures.keeps(r.NOTATION_SIGNATURE) and signatures.keeps(r.SIGSTORE_BUNDLE)
    assert signatures.keeps(r.COSIGN_SIGNATURE) and not signatures.keeps(spdx)
    assert signatures.keeps_tag("sig") and not signatures.keeps_tag("att")
    assert not signatures.keeps_tag("sbom") and not signatures.keeps_tag("exe")
    assert not r.Selection(r.Keep.NONE).keeps(r.NOTATION_SIGNATURE)
    narrowed = r.Selection(r.Keep.ALL, frozenset({spdx, r.COSIGN_SIGNATURE}))
    assert narrowed.keeps(spdx) and not narrowed.keeps(r.NOTATION_SIGNATURE)
    assert narrowed.keeps_tag("sig") and not narrowed.keeps_tag("sbom")


def test_a_budget_holds_its_bounds_and_counts_what_it_refuses() -> None:
    budget = r.Budget(r.Bounds(max_depth=2, max_count=3, max_bytes=100))
    assert budget.admits(1, 10) and budget.admits(2, 10)
    assert not budget.admits(3, 1)  # too deep
    assert budget.spend(70) and not budget.spend(11)  # 90 spent: 11 more would pass 100
    assert not budget.admits(1, 11)
    assert budget.admits(1, 10)  # the third, exactly at 100 bytes
    assert not budget.admits(1, 0)  # a fourth: over the count
    assert (budget.count, budget.bytes, budget.refused) == (3, 100, 4)


def test_a_hostile_listing_spends_nothing_beyond_the_bounds() -> None:
    budget = r.Budget(r.Bounds(max_count=r.DEFAULT_MAX_COUNT))
    admitted = sum(budget.admits(1, 100) for _ in range(10_000))
    assert admitted == r.DEFAULT_MAX_COUNT and budget.refused == 10_000 - r.DEFAULT_MAX_COUNT


def test_a_set_digest_is_one_per_set_whatever_the_order() -> None:
    one, two = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    assert r.set_digest([one, two]) == r.set_digest([two, one, two])
    assert r.set_digest([one]) != r.set_digest([one, two])
    assert r.set_digest([]) is None
    assert r.count_by_type([r.NOTATION_SIGNATURE, "application/spdx+json", r.NOTATION_SIGNATURE]) == {
        "application/spdx+json": 1, r.NOTATION_SIGNATURE: 2}


# --- settings ------------------------------------------------------------------------------------

def settings_of(body: str) -> tuple[Settings, list[str]]:
    allowlist, problems = parse_allowlist("allow:\n  - ghcr.io/a\nsettings:\n" + body)
    return allowlist.settings, [f"{p.line}: {p.message}" for p in problems]


def test_referrer_settings_default_to_everything_within_the_bounds() -> None:
    settings, problems = settings_of("  max_images_per_issue: 10\n")
    assert problems == []
    assert settings.referrer_selection == r.Selection(r.Keep.ALL, None)
    assert settings.referrer_bounds == r.Bounds(3, 100, 64 << 20)


def test_referrer_settings_are_read() -> None:
    settings, problems = settings_of(
        "  referrers: signatures\n"
        f"  referrer_types: [{r.NOTATION_SIGNATURE}, '{r.SIGSTORE_BUNDLE}']\n"
        "  referrers_max_depth: 1\n  referrers_max_count: 1000\n  referrers_max_bytes: 1GiB\n")
    assert problems == []
    assert settings.referrer_selection == r.Selection(
        r.Keep.SIGNATURES, frozenset({r.NOTATION_SIGNATURE, r.SIGSTORE_BUNDLE}))
    assert settings.referrer_bounds == r.Bounds(1, 1000, 1 << 30)
    assert settings_of("  referrers: none\n")[0].referrers is r.Keep.NONE


@pytest.mark.parametrize(("body", "line", "text"), [
    ("  referrers: some\n", 4, "settings.referrers: 'some' is not one of all, signatures, none"),
    ("  referrers: no\n", 4, "settings.referrers: write none to copy no referrers"),
    ("  referrers: false\n", 4, "write none to copy no referrers"),
    ("  referrers:\n", 4, "write none to copy no referrers"),
    ("  referrer_types: application/spdx+json\n", 4, "must be a list like"),
    ("  referrer_types:\n    - application/spdx+json\n    - spdx\n", 6,
     "settings.referrer_types: 'spdx' is not a media type"),
    ("  referrer_types: [a/b, a/b]\n", 4, "'a/b' is listed twice"),
    ("  referrers: none\n  referrer_types: [a/b]\n", 5, "settings.referrers is none, so no type is kept"),
    ("  referrers: signatures\n  referrer_types: [application/spdx+json]\n", 5,
     "application/spdx+json is not a signature type"),
    ("  referrers_max_depth: 0\n", 4, "settings.referrers_max_depth: must be a whole number of at least 1"),
    ("  referrers_max_depth: 9\n", 4, "settings.referrers_max_depth: must be at most 8"),
    ("  referrers_max_count: 1001\n", 4, "must be at most 1000"),
    ("  referrers_max_count: ten\n", 4, "must be a whole number"),
    ("  referrers_max_bytes: 64mib\n", 4, "settings.referrers_max_bytes: '64mib'"),
])
def test_bad_referrer_settings_are_problems_on_their_line(body: str, line: int, text: str) -> None:
    _, problems = settings_of(body)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{line}: ") and text in problems[0], problems


# --- tag selection never takes an artifact tag ----------------------------------------------------

UPSTREAM = ["1.27.0", "1.27.1", "latest", "sha256-" + "a" * 64, "sha256-" + "a" * 64 + ".sig",
            "sha256-" + "b" * 64 + ".att", "sha256-" + "b" * 64 + ".sbom", "sha512-" + "c" * 64]


def test_patterns_and_follow_never_select_artifact_tags() -> None:
    assert expand_pattern("*", UPSTREAM, cap=20) == ["1.27.1", "1.27.0", "latest"]
    assert expand_pattern("sha256-*", UPSTREAM, cap=20) == []
    assert select_tags(UPSTREAM, TagRules(match="*")).tags == ("1.27.1", "1.27.0", "latest")
    assert select_tags(UPSTREAM, TagRules(regex="sha.*")).tags == ()
    assert select_tags(UPSTREAM, TagRules(latest=5)).tags == ("1.27.1", "1.27.0")


def test_a_subscription_cannot_include_an_artifact_tag() -> None:
    with pytest.raises(ValueError, match="travel with the image's own tag"):
        check_tag("sha256-" + "a" * 64 + ".sig")
    assert check_tag("sha256-release") == "sha256-release"


# --- what came along, said to people --------------------------------------------------------------

def test_what_came_along_is_said_in_words() -> None:
    assert str(said({r.Kind.SIGNATURE: 2, r.Kind.SBOM: 1})) == "2 signatures, 1 SBOM"
    assert str(said({r.Kind.SBOM: 3, r.Kind.ATTESTATION: 1, r.Kind.OTHER: 1, r.Kind.SIGNATURE: 1})) \
        == "1 signature, 1 attestation, 3 SBOMs, 1 other artifact"
    assert str(said({r.Kind.OTHER: 2})) == "2 other artifacts"
    assert said({}) is None and said({r.Kind.SIGNATURE: 0}) is None


# --- the record keeps one digest of the set, and two flags ------------------------------------------

def test_a_record_keeps_the_referrer_set_and_its_flags() -> None:
    data = {"source": "docker.io/library/nginx:1.27", "target": "m.example.io/docker.io/library/nginx:1.27",
            "digest": SUBJECT, "platforms": [], "first_sync": "2026-01-01T00:00:00Z",
            "referrers": OTHER, "referrers_incomplete": True, "signed": True}
    image = RecordedImage.from_json(data)
    assert (image.referrers, image.referrers_incomplete, image.signed) == (OTHER, True, True)
    assert image.to_json() == data
    plain = RecordedImage.from_json({k: v for k, v in data.items()
                                     if k not in {"referrers", "referrers_incomplete", "signed"}})
    assert "referrers" not in plain.to_json() and "signed" not in plain.to_json()
    # the same digest and set, seen again without a copy: still signed
    again = replace(image, signed=False, referrers_incomplete=False)
    assert again.keeping_served(image).signed
    assert not replace(again, referrers=None).keeping_served(image).signed


@pytest.mark.parametrize(("field", "value"), [
    ("referrers", "sha256:short"), ("referrers", 7), ("referrers", ["sha256:" + "1" * 64]),
    ("referrers_incomplete", "yes"), ("referrers_incomplete", 1), ("signed", None),
])
def test_a_record_with_a_bad_referrer_field_is_refused(field: str, value: object) -> None:
    data = {"source": "docker.io/library/nginx:1.27", "target": "m.example.io/docker.io/library/nginx:1.27",
            "digest": SUBJECT, field: value}
    with pytest.raises(RecordError, match=field):
        RecordedImage.from_json(data)
