"""Desk screens for fulfilment: the warehouse's shipment work and the watches over carriers."""

from django.urls import path  # noqa: F401

app_name = "fulfilment"
urlpatterns: list = []
