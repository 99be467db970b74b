"""Phone numbers in the admin as the user may see them: whole with `audiences.view_phone_numbers`, else masked.

A ModelAdmin lists the fields that carry numbers in `masked_fields` (field
or column -> the method that shows it masked); for a user without the
permission the mixin puts the method in the field's place in the list
columns and on the change page, where it is always read-only: nobody edits
a number they cannot see. Templates use the `phones` filters (audiences/templatetags/phones.py).
"""

from __future__ import annotations

import re

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audiences.phones import InvalidPhoneNumber, can_see_phones, mask_phone, normalize_phone


class MaskedPhonesMixin:
    masked_fields: dict[str, str] = {"phone": "masked_phone"}

    @admin.display(description=_("phone"), ordering="phone")
    def masked_phone(self, obj) -> str:
        return format_html('<span style="white-space: nowrap">{}</span>', mask_phone(obj.phone))

    def masks_phones(self, request) -> bool:
        return not can_see_phones(request.user)

    def phone_search(self, request, queryset, term: str):
        """The rows a phone search finds, or None when `term` is neither a phone number nor three digits of one.

        A whole number in any format is an exact lookup on the unique index. A
        fragment finds rows only for those who see numbers: one who sees them
        masked could otherwise rebuild a number digit by digit.
        """
        try:
            return queryset.filter(phone=normalize_phone(term))
        except InvalidPhoneNumber:
            pass
        digits = re.sub(r"[\s\-().]", "", term)
        if not re.fullmatch(r"\+?\d{3,}", digits):
            return None
        if self.masks_phones(request):
            message = gettext("Search by a whole phone number: you may not search by part of one.")
            self.message_user(request, message, messages.WARNING)
            return queryset.none()
        # icontains: the form the trigram index on UPPER(phone) serves (audiences migration 0003).
        return queryset.filter(phone__icontains=digits.lstrip("+"))

    def _swap(self, names):
        swapped = []
        for name in names:
            if isinstance(name, (list, tuple)):
                name = tuple(self._swap(name))
            elif isinstance(name, str):
                name = self.masked_fields.get(name, name)
            if name not in swapped:
                swapped.append(name)
        return swapped

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return self._swap(columns) if self.masks_phones(request) else columns

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None or not self.masks_phones(request):
            return fields
        # The masked stand-ins of the model's fields and of the read-only ones (not of list-only columns).
        shown = {field.name for field in self.model._meta.get_fields()} | set(fields)
        stand_ins = [method for name, method in self.masked_fields.items() if name in shown and method not in fields]
        return [*fields, *stand_ins]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not self.masks_phones(request):
            return fieldsets
        return [(title, {**options, "fields": self._swap(options["fields"])}) for title, options in fieldsets]
