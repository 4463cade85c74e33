from django import template

from core.saved_views import saved_views_for

register = template.Library()

# The desk lists that offer saved views (URL names).
LISTS = {
    "orders:list",
    "alerts:list",
    "fulfilment:shipments",
    "fulfilment:no-first-scan",
    "integrations_desk:messages",
    "integrations_desk:failed",
    "inventory:stock",
    "finance:payments",
    "returns:list",
}


@register.inclusion_tag("desk/_saved_views.html", takes_context=True)
def saved_views(context):
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None or not request.user.is_authenticated or match.view_name not in LISTS:
        return {"enabled": False}
    return {
        "enabled": True,
        "views": saved_views_for(request.user, request.path),
        "path": request.path,
        "query": request.GET.urlencode(),
        "current": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }
