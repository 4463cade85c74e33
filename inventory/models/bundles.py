"""Bundles (组合装): a SKU sold as one item and made of other SKUs in fixed quantities."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from inventory.models.stock import SKU


class BundleComponent(models.Model):
    """`quantity` units of `component` in one unit of `bundle`.

    `reference_price` is what one unit of the component is worth inside the bundle: a bundle
    line's paid amount is split over its components in proportion to reference price × quantity
    (orders.bundles), so a component returned on its own refunds its share of what the bundle was
    paid. Only the proportions count; with no reference prices the split follows the quantities."""

    bundle = models.ForeignKey(
        SKU, on_delete=models.CASCADE, related_name="bundle_components", verbose_name=_("bundle")
    )
    component = models.ForeignKey(
        SKU, on_delete=models.PROTECT, related_name="in_bundles", verbose_name=_("component")
    )
    quantity = models.PositiveIntegerField(_("quantity per bundle"), default=1)
    reference_price = models.DecimalField(
        _("reference price"),
        max_digits=18,
        decimal_places=2,
        default=0,
        help_text=_("What one unit is worth inside the bundle: splits the bundle's paid amount for refunds."),
    )

    class Meta:
        ordering = ["bundle", "pk"]
        verbose_name = _("bundle component")
        verbose_name_plural = _("bundle components")
        constraints = [
            models.UniqueConstraint(fields=["bundle", "component"], name="bundle_component_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="bundle_component_quantity_positive"),
            models.CheckConstraint(
                condition=Q(reference_price__gte=0), name="bundle_component_reference_price_not_negative"
            ),
            models.CheckConstraint(condition=~Q(bundle=F("component")), name="bundle_component_not_itself"),
        ]

    def __str__(self):
        return f"{self.bundle_id} ⊃ {self.quantity}×{self.component_id}"

    def clean(self):
        errors = {}
        if self.bundle_id and self.component_id and self.bundle_id == self.component_id:
            errors["component"] = _("A bundle cannot contain itself.")
        elif self.component_id:
            component = self.component
            if component.is_bundle:
                errors["component"] = _("%(sku)s is a bundle: a bundle cannot contain another bundle.") % {
                    "sku": component.code
                }
            elif not component.is_active:
                errors["component"] = _("%(sku)s is inactive: only active SKUs can be components.") % {
                    "sku": component.code
                }
        if errors:
            raise ValidationError(errors)
