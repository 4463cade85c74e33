from django.utils.functional import SimpleLazyObject

from core.roles import Role, user_roles
from desk.navigation import desk_navigation


def desk(request):
    user = getattr(request, "user", None)
    return {
        # Role labels in the reader's language ("客服"), never the codes ("customer_service").
        "user_roles": sorted(str(Role(role).label) for role in user_roles(user)) if user is not None else [],
        "desk_nav": SimpleLazyObject(lambda: desk_navigation(user) if user is not None else []),
    }
