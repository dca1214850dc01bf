"""Sessions get a keyed index of the speaker id they name, so a speaker's page can list its calls.

The index of existing sessions is filled here: each sealed speaker id is opened and its keyed hash stored,
under the data-key generation that sealed it (exactly what assigning `Session.speaker_ref` writes, without
re-encrypting the row: its `sealed_with`, which key rotation walks, stays true). A domain whose key cannot
be used now keeps an empty index, so its older calls are only missing from speaker pages; nothing fails.
"""

from __future__ import annotations

import logging

from django.db import migrations, models

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


def _sealing_domain(historical_domain):
    """The domain as the envelope code reads it (the historical model lacks `arn`): built, not loaded."""
    from domains.models import Domain

    return Domain(
        pk=historical_domain.pk,
        domain_id=historical_domain.domain_id,
        region=historical_domain.region,
        kms_key_id=historical_domain.kms_key_id,
        key_generation=historical_domain.key_generation,
        encryption_update_status=historical_domain.encryption_update_status,
    )


def _index_domain_sessions(session_model, historical_domain) -> None:
    from domains import envelope
    from voiceid_site.exceptions import AccessDenied

    domain = _sealing_domain(historical_domain)
    sessions = (
        session_model.objects.filter(domain_id=domain.pk, speaker_ref_index=b"")
        .exclude(speaker_ref_sealed=b"")
        .only("pk", "session_id", "speaker_ref_sealed")
        .order_by("pk")
    )
    last_pk = 0
    while batch := list(sessions.filter(pk__gt=last_pk)[:BATCH_SIZE]):
        try:
            for session in batch:
                blob = bytes(session.speaker_ref_sealed)
                # The context `domains.sealing.Sealed` binds the value to (model, record id, attribute).
                speaker_ref = envelope.open_text(
                    domain, blob, context=f"calls.session:{session.session_id}:speaker_ref"
                )
                session.speaker_ref_index = envelope.index_digest(
                    domain, speaker_ref, generation=envelope.generation_of(blob)
                )
        except AccessDenied as error:
            logger.warning(
                "Sessions of domain %s keep no speaker index (their key is unavailable): %s",
                domain.domain_id,
                error,
            )
            return
        session_model.objects.bulk_update(batch, ["speaker_ref_index"])
        last_pk = batch[-1].pk


def index_speaker_refs(apps, schema_editor) -> None:
    session_model = apps.get_model("calls", "Session")
    domain_model = apps.get_model("domains", "Domain")
    with_sessions = (
        session_model.objects.exclude(speaker_ref_sealed=b"").order_by().values("domain_id").distinct()
    )
    for historical_domain in domain_model.objects.filter(pk__in=with_sessions).order_by("pk"):
        _index_domain_sessions(session_model, historical_domain)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0001_initial"),
        ("domains", "0002_encryption_at_rest"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="speaker_ref_index",
            field=models.BinaryField(default=b"", max_length=32),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["domain", "speaker_ref_index"], name="session_speaker_ref"),
        ),
        # Reversing drops the column, so there is nothing to undo.
        migrations.RunPython(index_speaker_refs, migrations.RunPython.noop, elidable=True),
    ]
