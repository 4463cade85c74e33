"""What OCR read from an invoice or receipt image attached to an RMA (returns.evidence reads it;
the RMA page compares it with the order). One row per image attachment, created pending when the
image is attached; a failed read is recorded with its reason and never blocks the RMA."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import ConcurrentTransitions
from returns.models.attachment import ReturnAttachment


class ReadingState(models.TextChoices):
    PENDING = "pending", _("reading")
    READ = "read", _("read")
    FAILED = "failed", _("could not read")


class AttachmentReading(ConcurrentTransitions, models.Model):
    attachment = models.OneToOneField(ReturnAttachment, on_delete=models.CASCADE, related_name="reading")
    state = FSMField(_("state"), default=ReadingState.PENDING, choices=ReadingState.choices, protected=True)
    text = models.TextField(_("text read"), blank=True)
    invoice_number = models.CharField(_("invoice number"), max_length=20, blank=True)
    date = models.DateField(_("invoice date"), null=True, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    seller = models.CharField(_("seller"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)
    engine = models.CharField(_("OCR engine"), max_length=60, blank=True)  # name and version
    took_ms = models.PositiveIntegerField(_("took (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("attachment reading")
        verbose_name_plural = _("attachment readings")

    def __str__(self):
        return f"{self.attachment_id} ({self.state})"

    @property
    def found_anything(self) -> bool:
        return bool(self.invoice_number or self.date or self.amount is not None or self.seller)

    @transition(field=state, source=ReadingState.PENDING, target=ReadingState.READ)
    def mark_read(self, *, text, invoice_number, date, amount, seller, engine, took_ms, now) -> None:
        self.text, self.invoice_number, self.date, self.amount, self.seller = (
            text,
            invoice_number,
            date,
            amount,
            seller[:200],
        )
        self.engine, self.took_ms, self.finished_at = engine[:60], took_ms, now

    @transition(field=state, source=ReadingState.PENDING, target=ReadingState.FAILED)
    def mark_failed(self, *, error: str, engine: str, took_ms: int | None, now) -> None:
        self.error, self.engine, self.took_ms, self.finished_at = error[:255], engine[:60], took_ms, now
