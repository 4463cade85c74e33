from django.db import models
from django.utils.translation import gettext_lazy as _


class DemoBacklog(models.Model):
    """A demo order `seed_demo --ready-first` took in but left for `seed_demo --resume` to take
    to its target state: `make run` serves the desk once the most recent orders are ready and
    routes, ships and delivers the older ones in the background. The desk shows how many remain
    (desk.context_processors); a row goes when its order is done, so a stopped run resumes. The
    row without an order is the last step: revenue, the finance demo and the dashboard figures,
    which need every order in its state first."""

    order = models.OneToOneField(
        "orders.Order", on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    target_status = models.CharField(_("target status"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("demo order still loading")
        verbose_name_plural = _("demo orders still loading")

    def __str__(self) -> str:
        return f"{self.order_id or 'finance'} → {self.target_status}"
