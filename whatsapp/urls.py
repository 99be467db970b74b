from django.urls import path

from whatsapp.webhooks import WhatsAppWebhookView

app_name = "whatsapp"
urlpatterns = [
    path("webhook/", WhatsAppWebhookView.as_view(), name="webhook"),
]
