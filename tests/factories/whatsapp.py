import factory
from django.utils import timezone

from whatsapp.models import MessageTemplate


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    """An APPROVED marketing template: text header {{1}}, body {{1}} {{2}}, footer, a marketing opt-out button."""

    class Meta:
        model = MessageTemplate
        django_get_or_create = ("name", "language")

    name = factory.Sequence(lambda n: f"spring_sale_{n}")
    language = "en_US"
    category = "MARKETING"
    status = MessageTemplate.Status.APPROVED
    quality = "GREEN"
    synced_at = factory.LazyFunction(timezone.now)
    components = factory.LazyFunction(
        lambda: [
            {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}", "example": {"header_text": ["Ana"]}},
            {
                "type": "BODY",
                "text": "Our spring sale starts in {{1}}: {{2}} off everything.",
                "example": {"body_text": [["Lisbon", "20%"]]},
            },
            {"type": "FOOTER", "text": "Tap Stop promotions to opt out"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
        ]
    )
