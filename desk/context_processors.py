from django.utils.functional import SimpleLazyObject

from desk.navigation import desk_navigation
from core.roles import user_roles


def desk(request):
    user = getattr(request, "user", None)
    return {
        "user_roles": user_roles(user) if user is not None else set(),
        "desk_nav": SimpleLazyObject(lambda: desk_navigation(user) if user is not None else []),
    }
