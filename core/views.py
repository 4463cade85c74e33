from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect

from core.auth import ThrottledAuthenticationForm


class DeskLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    return redirect("orders:list")
