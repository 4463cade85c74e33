"""The message storage is built only when something uses it (issue #18): the API never builds it,
and the desk's messages still reach the next page."""

import pytest
from django.contrib import messages
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from core import middleware
from core.middleware import LazyMessageMiddleware


def _through(view, request):
    SessionMiddleware(view).process_request(request)
    return LazyMessageMiddleware(view)(request)


def test_a_message_added_on_one_request_is_shown_on_the_next():
    def add(request):
        messages.success(request, "Order SO-1 held.")
        return HttpResponse()

    def show(request):
        return HttpResponse(" | ".join(str(m) for m in messages.get_messages(request)))

    factory = RequestFactory()
    first = _through(add, factory.get("/orders/"))
    assert "messages" in first.cookies
    second = factory.get("/orders/")
    second.COOKIES["messages"] = first.cookies["messages"].value
    assert _through(show, second).content.decode() == "Order SO-1 held."


def test_a_request_that_shows_nothing_stores_nothing():
    response = _through(lambda request: HttpResponse(), RequestFactory().get("/orders/"))
    assert "messages" not in response.cookies


@pytest.mark.django_db
def test_an_api_request_never_builds_the_storage(client, manager, monkeypatch):
    built, build = [], middleware.default_storage
    monkeypatch.setattr(
        middleware, "default_storage", lambda request: built.append(request) or build(request)
    )
    token = Token.objects.create(user=manager).key
    response = client.get("/api/v1/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert built == []
    client.force_login(manager)
    client.get("/")  # the desk's pages show messages: the storage is built there
    assert built
