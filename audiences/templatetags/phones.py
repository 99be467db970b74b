"""Template filters showing phone numbers as the user may see them (audiences.phones).

`{{ contact.phone|phone_for:request.user }}` for a number, and
`{{ entry.get_change_message|phones_in_text_for:request.user }}` for text that may quote one.
"""

from django import template

from audiences import phones

register = template.Library()


@register.filter
def phone_for(phone, user) -> str:
    return phones.phone_for(user, phone)


@register.filter
def phones_in_text_for(text, user) -> str:
    text = "" if text is None else str(text)
    return text if phones.can_see_phones(user) else phones.mask_phones_in_text(text)
