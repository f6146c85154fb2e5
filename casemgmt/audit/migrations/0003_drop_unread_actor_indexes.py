"""Drop the two audit-log indexes that no read can use: the account id's (nothing looks rows up
by it) and (actor_username, at) (the auditor's person filter matches part of a name).

The account id's index goes by its name with plain SQL: altering the field would make SQLite
rebuild the table, which would drop its append-only triggers.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ACTOR_INDEX = "audit_auditevent_actor_id_270bb4b7"


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_auditor_role"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="auditevent", name="audit_actor_idx"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {ACTOR_INDEX}",
                    reverse_sql=f"CREATE INDEX {ACTOR_INDEX} ON audit_auditevent (actor_id)",
                ),
            ],
        ),
    ]
