app_name = "supplier_portal"
urlpatterns: list = []
