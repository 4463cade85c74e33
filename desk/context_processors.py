from django.utils.functional import SimpleLazyObject

from core.roles import user_roles
from desk.navigation import desk_navigation


def desk(request):
    user = getattr(request, "user", None)
    return {
        "user_roles": user_roles(user) if user is not None else set(),
        "desk_nav": SimpleLazyObject(lambda: desk_navigation(user) if user is not None else []),
    }
