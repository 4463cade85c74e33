"""Photos and documents the customer or an agent attached to an RMA (returns.attachments checks
them before they are stored)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from returns.models.rma import ReturnRequest


def attachment_path(instance, filename: str) -> str:
    # The stored name never reuses the customer's file name (path tricks, personal data).
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"returns/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{extension}"


class ReturnAttachment(models.Model):
    rma = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=attachment_path)
    original_name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        ordering = ["rma", "pk"]
        verbose_name = _("return attachment")
        verbose_name_plural = _("return attachments")

    def __str__(self):
        return self.original_name
