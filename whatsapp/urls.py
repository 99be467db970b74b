from django.urls import path

app_name = "whatsapp"
urlpatterns: list[path] = []
