from core.roles import user_roles


def desk(request):
    return {"user_roles": user_roles(request.user) if hasattr(request, "user") else set()}
