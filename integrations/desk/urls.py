"""Integration operator screens, mounted at integrations/desk/."""

from django.urls import path

from integrations.desk import channel_setup, views

app_name = "integrations_desk"
urlpatterns = [
    path("messages/", views.message_list, name="messages"),
    path("messages/<int:pk>/", views.message_detail, name="message-detail"),
    path("messages/<int:pk>/replay/", views.message_replay, name="message-replay"),
    path("failed/", views.failed_list, name="failed"),
    path("failed/replay/", views.failed_replay, name="failed-replay"),
    path("write-backs/<int:pk>/retry/", views.writeback_retry, name="writeback-retry"),
    path("channels/", views.channel_status, name="channels"),
    path("channels/new/", channel_setup.channel_new, name="channel-new"),
    path("channels/new/<slug:platform>/", channel_setup.channel_create, name="channel-create"),
    path("channels/<slug:code>/edit/", channel_setup.channel_edit, name="channel-edit"),
    path("channels/<slug:code>/repull/", views.repull_new, name="repull-new"),
    path("repulls/<int:pk>/", views.repull_detail, name="repull"),
    path("upload/", views.upload_orders, name="upload"),
    path("upload/template.xlsx", views.upload_orders_template, name="upload-template"),
    path("upload/<uuid:token>/", views.upload_orders_preview, name="upload-preview"),
    path("upload/<uuid:token>/confirm/", views.upload_orders_confirm, name="upload-confirm"),
    path("upload/<uuid:token>/errors.xlsx", views.upload_orders_errors, name="upload-errors"),
]
