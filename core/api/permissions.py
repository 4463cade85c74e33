from rest_framework.permissions import DjangoModelPermissions


class RoleModelPermissions(DjangoModelPermissions):
    """Model permissions from the user's role groups; reading needs the `view_` permission too."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
