"""`Sealed`: a model attribute stored only as ciphertext under its domain's data key.

    class Speaker(models.Model):
        customer_speaker_id_sealed = models.BinaryField(default=b"")
        customer_speaker_id = Sealed("customer_speaker_id_sealed", record_id="generated_speaker_id")

Reading the attribute decrypts the column; assigning it encrypts at once, so a clear value never reaches
the database. The encryption context names the domain, the model, the record's public id and the
attribute, so a ciphertext copied into another row, column or domain fails to decrypt. A model with
sealed attributes has a `sealed_with` column (the data-key generation its row was last sealed under, which
key rotation walks) and a `sealing_domain` property. The registry below is how rotation finds them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model

SEALED_ATTRIBUTES: dict[type[Model], list[Sealed]] = {}


class Sealed(property):
    """Subclasses `property` so that `Model(attribute=...)` and `Model.objects.create(...)` accept it."""

    def __init__(self, column: str, *, record_id: str, index: str | None = None) -> None:
        self.column = column
        self.record_id = record_id
        # Optional column receiving a keyed hash of the value, for lookups without decrypting.
        self.index = index
        self.name = ""
        super().__init__(self._get, self._set)

    def __set_name__(self, owner: type[Model], name: str) -> None:
        self.name = name
        SEALED_ATTRIBUTES.setdefault(owner, []).append(self)

    def context(self, obj: Any) -> str:
        return f"{obj._meta.label_lower}:{getattr(obj, self.record_id)}:{self.name}"

    def _cache_key(self) -> str:
        return f"_sealed_{self.name}"

    def _get(self, obj: Any) -> str:
        cached = obj.__dict__.get(self._cache_key())
        if cached is not None:
            return cached
        from domains import envelope

        blob = bytes(getattr(obj, self.column) or b"")
        value = envelope.open_text(obj.sealing_domain, blob, context=self.context(obj)) if blob else ""
        obj.__dict__[self._cache_key()] = value
        return value

    def _set(self, obj: Any, value: str) -> None:
        from domains import envelope

        domain = obj.sealing_domain
        generation = envelope.generation_for_write(domain)
        setattr(
            obj,
            self.column,
            envelope.seal_text(domain, value, context=self.context(obj), generation=generation),
        )
        if self.index:
            setattr(obj, self.index, envelope.index_digest(domain, value, generation=generation))
        if obj._state.adding:
            obj.sealed_with = generation
        obj.__dict__[self._cache_key()] = value


class SealedBytes(Sealed):
    """A sealed binary value (a voiceprint, a stream's state): the same envelope, without text decoding."""

    def _get(self, obj: Any) -> bytes:  # type: ignore[override]
        cached = obj.__dict__.get(self._cache_key())
        if cached is not None:
            return cached
        from domains import envelope

        blob = bytes(getattr(obj, self.column) or b"")
        value = envelope.open_sealed(obj.sealing_domain, blob, context=self.context(obj)) if blob else b""
        obj.__dict__[self._cache_key()] = value
        return value

    def _set(self, obj: Any, value: bytes) -> None:  # type: ignore[override]
        from domains import envelope

        domain = obj.sealing_domain
        generation = envelope.generation_for_write(domain)
        setattr(
            obj, self.column, envelope.seal(domain, value, context=self.context(obj), generation=generation)
        )
        if obj._state.adding:
            obj.sealed_with = generation
        obj.__dict__[self._cache_key()] = value


def readable(obj: Any, attribute: str) -> str:
    """The attribute's clear value, or a placeholder when its key is unavailable (for labels, not data)."""
    from voiceid_site.exceptions import AccessDenied

    try:
        return getattr(obj, attribute)
    except AccessDenied:
        return "(encrypted: key unavailable)"
