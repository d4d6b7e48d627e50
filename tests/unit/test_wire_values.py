"""Values that outlive a run: written into registries and comments by one version of the bot and
read by the next (and by the maintainers' own scripts). A refactor must never change them, so
they are written here as literals rather than imported.
"""

from __future__ import annotations

from bot.image.oci import SUBSET_ANNOTATION
from bot.records.labels import Labels
from bot.records.record import COMMENT_MARKER, Outcome, Phase, RecordedImage, ResultRecord


def test_the_platform_subset_annotation_is_what_earlier_runs_wrote() -> None:
    # Indexes the bot wrote for platform subsets carry it; a different value would make every
    # subset mirrored before look whole (never widened) and change each new subset's digest.
    assert SUBSET_ANNOTATION == "dev.mirror-bot.platform-subset"


def test_the_comment_and_record_markers_are_what_earlier_runs_wrote() -> None:
    assert COMMENT_MARKER == "<!-- mirror-bot:comment -->"
    record = ResultRecord(7, Phase.RESULT, "2026-11-29T12:00:00Z", Outcome.MIRRORED, images=(
        RecordedImage("docker.io/library/nginx:1.27", "m.example.io/docker.io/library/nginx:1.27",
                      "sha256:" + "a" * 64),))
    assert record.render().startswith('<!-- mirror-bot:result {"at":"2026-11-29T12:00:00Z",')
    assert record.render().endswith(" -->")


def test_the_default_labels_are_what_the_workflows_and_earlier_runs_use() -> None:
    labels = Labels()
    assert (labels.request, labels.succeeded, labels.failure, labels.denied, labels.invalid) == (
        "sync image", "sync image succeeded", "sync image failure", "sync image denied",
        "sync image invalid")
