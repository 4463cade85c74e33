"""Cycle count screens; inventory/desk/urls.py mounts them under the "inventory" namespace."""

from django.urls import path

from inventory.desk import cycle_counts as views

urlpatterns = [
    path("", views.cyclecount_list, name="cyclecount-list"),
    path("upload/", views.cyclecount_upload, name="cyclecount-upload"),
    path("uploads/<int:pk>/", views.cyclecount_upload_detail, name="cyclecount-upload-detail"),
    path("template.xlsx", views.cyclecount_template, name="cyclecount-template"),
    path("<int:pk>/", views.cyclecount_detail, name="cyclecount-detail"),
    path("<int:pk>/approve/", views.cyclecount_approve, name="cyclecount-approve"),
    path("<int:pk>/cancel/", views.cyclecount_cancel, name="cyclecount-cancel"),
]
