"""Keeps a supplier's login inside the supplier portal.

A supplier user has no role and no permission, so every desk screen, the API and the admin
already refuse it one by one. This middleware is the second wall: whatever screen is added
later, and whatever permission someone grants by mistake, a supplier login reaches only the
portal, signing in and out and the language switch. Its start page "/" leads to the portal.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from purchasing.portal_selectors import is_supplier_user


class SupplierPortalGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._allowed: tuple[str, ...] | None = None

    def allowed_prefixes(self) -> tuple[str, ...]:
        if self._allowed is None:  # the URLconf is loaded by the first request, not at start-up
            self._allowed = (
                reverse("supplier_portal:home"),
                reverse("login"),
                reverse("logout"),
                reverse("set_language"),
                f"/{settings.STATIC_URL.lstrip('/')}",
            )
        return self._allowed

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and is_supplier_user(user):
            path = request.path_info
            if not path.startswith(self.allowed_prefixes()):
                if path == "/" and request.method in ("GET", "HEAD"):
                    return redirect("supplier_portal:home")
                raise PermissionDenied("supplier logins use the supplier portal only")
        return self.get_response(request)
