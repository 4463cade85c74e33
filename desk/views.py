from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core import saved_views
from core.auth import ThrottledAuthenticationForm
from core.errors import DomainError
from desk.queues import desk_queues


class DeskLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    """The start page: the exception queues of this user's roles."""
    return render(request, "desk/home.html", {"queues": desk_queues(request.user)})


def _back(request, fallback: str):
    target = request.POST.get("next") or fallback
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


@login_required
@require_POST
def saved_view_save_view(request):
    path, query = request.POST.get("path", ""), request.POST.get("query", "")
    try:
        view = saved_views.saved_view_save(
            user=request.user, path=path, name=request.POST.get("name", ""), query=query
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(request, f"{path}?{query}")
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return _back(request, view.url)


@login_required
@require_POST
def saved_view_delete_view(request, pk: int):
    try:
        saved_views.saved_view_delete(user=request.user, view_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    return _back(request, "/")
