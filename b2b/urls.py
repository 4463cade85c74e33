app_name = "b2b"
urlpatterns: list = []
