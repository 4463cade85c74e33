import pytest
from django.urls import reverse

from core.models import SavedView
from core.roles import Role

pytestmark = pytest.mark.django_db


def test_a_user_saves_and_reopens_the_filters_of_a_list(client, make_user):
    user = make_user(Role.CUSTOMER_SERVICE)
    client.force_login(user)
    listing = reverse("orders:list")
    page = client.get(listing, {"status": "on_hold", "channel": "shop-cn", "page": "2"})
    assert "Save view" in page.content.decode()

    response = client.post(
        reverse("saved-views:save"),
        {"path": listing, "query": "status=on_hold&channel=shop-cn&page=2", "name": "Held on shop-cn"},
    )
    view = SavedView.objects.get(user=user)
    assert view.query == "status=on_hold&channel=shop-cn"  # paging is not part of a view
    assert response.url == f"{listing}?status=on_hold&channel=shop-cn"
    assert "Held on shop-cn" in client.get(listing).content.decode()

    other = make_user(Role.CUSTOMER_SERVICE)
    client.force_login(other)
    assert "Held on shop-cn" not in client.get(listing).content.decode()  # views are personal
    client.post(reverse("saved-views:delete", args=[view.pk]))
    assert SavedView.objects.filter(pk=view.pk).exists()  # not theirs to delete


def test_saving_refuses_unknown_lists_and_empty_names(client, make_user):
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    client.post(reverse("saved-views:save"), {"path": "/nowhere/", "query": "a=1", "name": "x"})
    client.post(reverse("saved-views:save"), {"path": reverse("orders:list"), "query": "a=1", "name": "  "})
    assert not SavedView.objects.exists()


def test_redirect_after_saving_stays_on_this_site(client, make_user):
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    response = client.post(
        reverse("saved-views:save"),
        {
            "path": reverse("orders:list"),
            "query": "status=paid",
            "name": "Paid",
            "next": "https://evil.example/",
        },
    )
    assert response.url == "/"
