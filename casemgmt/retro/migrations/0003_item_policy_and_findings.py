"""Review items keep the policy they are about and every run's finding, and the duplicate open
items earlier runs opened for one case and policy are folded into one (the next migration then
refuses a second open item)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

OPEN = ("open", "in_review", "referred")
# Worked on first: an item a reviewer holds or referred stays the one kept.
PRECEDENCE = {"referred": 0, "in_review": 1, "open": 2}


def _item_policy(item: Any, version_policy: dict[int, int]) -> int | None:
    run = item.run
    if run.policy_id:
        return int(run.policy_id)
    if run.policy_version_id:
        return version_policy.get(run.policy_version_id)
    for citation in [*item.new_citations, *item.original_citations]:
        policy = version_policy.get(citation.get("policy_version_id") or 0)
        if policy:
            return policy
    return None


def fold_open_duplicates(apps: Any, schema_editor: Any) -> None:
    Item = apps.get_model("retro", "RetroReviewItem")
    Version = apps.get_model("policies_app", "PolicyVersion")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    version_policy = dict(Version.objects.values_list("id", "policy_id"))
    groups: dict[tuple[int, int | None], list[Any]] = defaultdict(list)
    for item in Item.objects.select_related("run").order_by("opened_at", "id").iterator(chunk_size=2000):
        item.policy_id = _item_policy(item, version_policy)
        item.findings = [
            {
                "run": item.run_id,
                "result": item.result_id,
                "rules": item.rules,
                "evaluated_at": item.opened_at.isoformat(),
            }
        ]
        item.save(update_fields=["policy", "findings"])
        if item.status in OPEN:
            groups[(item.case_id, item.policy_id)].append(item)
    now = timezone.now()
    for duplicates in groups.values():
        if len(duplicates) < 2:
            continue
        kept = min(duplicates, key=lambda i: (PRECEDENCE[i.status], i.opened_at, i.id))
        latest = duplicates[-1]
        rules: dict[str, None] = {}
        findings: list[dict[str, Any]] = []
        for item in duplicates:
            rules.update(dict.fromkeys(item.rules))
            findings += item.findings
        findings.sort(key=lambda f: f["evaluated_at"])
        before = {"rules": kept.rules, "findings": len(kept.findings)}
        kept.rules = list(rules)
        kept.findings = findings
        kept.decision_id = latest.decision_id
        kept.lines = latest.lines
        kept.original_citations = latest.original_citations
        kept.new_citations = latest.new_citations
        kept.row_version += 1
        kept.save(
            update_fields=[
                "rules",
                "findings",
                "decision",
                "lines",
                "original_citations",
                "new_citations",
                "row_version",
            ]
        )
        folded = [item for item in duplicates if item.pk != kept.pk]
        for item in folded:
            Item.objects.filter(pk=item.pk, status=item.status).update(
                status="closed",
                resolution="merged",
                resolution_note=f"Merged into review item {kept.pk}, the open item of the same case and policy.",
                resolved_at=now,
                row_version=item.row_version + 1,
            )
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    at=now,
                    actor_username="system",
                    channel="command",
                    action="change",
                    object_type="retro_review",
                    object_id=str(kept.pk),
                    changes={
                        "rules": {"old": before["rules"], "new": kept.rules},
                        "findings": {"old": before["findings"], "new": len(findings)},
                        "merged_items": {"old": None, "new": [item.pk for item in folded]},
                    },
                    detail={"migration": "retro.0003_item_policy_and_findings"},
                ),
                *(
                    AuditEvent(
                        at=now,
                        actor_username="system",
                        channel="command",
                        action="change",
                        object_type="retro_review",
                        object_id=str(item.pk),
                        changes={
                            "status": {"old": item.status, "new": "closed"},
                            "resolution": {"old": "", "new": "merged"},
                            "merged_into": {"old": None, "new": kept.pk},
                        },
                        detail={"migration": "retro.0003_item_policy_and_findings"},
                    )
                    for item in folded
                ),
            ]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("policies_app", "0001_initial"),
        ("retro", "0002_schedule"),
    ]

    operations = [
        migrations.AddField(
            model_name="retroreviewitem",
            name="findings",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="retroreviewitem",
            name="policy",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="policies_app.policy",
            ),
        ),
        migrations.AlterField(
            model_name="retroreviewitem",
            name="resolution",
            field=models.CharField(
                blank=True,
                choices=[
                    ("decision_stands", "Decision stands"),
                    ("corrected", "Corrected by a new decision"),
                    ("merged", "Merged into another open item of the same case and policy"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(fold_open_duplicates, migrations.RunPython.noop),
    ]
