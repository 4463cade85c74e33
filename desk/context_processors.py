from django.db.models import Count
from django.utils.functional import SimpleLazyObject

from core.roles import Role, user_roles
from desk.models import DemoBacklog
from desk.navigation import desk_navigation


def demo_backlog() -> dict[str, int]:
    """What the background demo load still has to do: orders to route and ship (`orders`), and
    any step at all (`steps`, which includes the finance demo after the orders)."""
    return DemoBacklog.objects.aggregate(orders=Count("order"), steps=Count("pk"))


def desk(request):
    user = getattr(request, "user", None)
    return {
        # Role labels in the reader's language ("客服"), never the codes ("customer_service").
        "user_roles": sorted(str(Role(role).label) for role in user_roles(user)) if user is not None else [],
        "desk_nav": SimpleLazyObject(lambda: desk_navigation(user) if user is not None else []),
        # `make run` serves the desk while older demo orders load (seed_demo --resume). Called once
        # by the desk layout for a signed-in user (one aggregate on a table empty outside the demo's
        # first minutes); pages not built on the layout never call it.
        "demo_backlog": demo_backlog,
    }
