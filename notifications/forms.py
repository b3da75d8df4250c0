"""Admin form for sending a notification to chosen users."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib.auth import get_user_model

from .models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, NotificationType


class SendNotificationForm(forms.Form):
    users = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 12}),
        help_text="Hold Ctrl (Cmd on a Mac) to choose several.",
    )
    title = forms.CharField(max_length=TITLE_MAX_LENGTH, strip=True)
    message = forms.CharField(max_length=MESSAGE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 6}), required=False)
    notification_type = forms.ChoiceField(
        label="Type", choices=NotificationType.choices, initial=NotificationType.INFO
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Set per form, not at import time: the user model's table may not exist yet then.
        user_model = get_user_model()
        users = cast(forms.ModelMultipleChoiceField, self.fields["users"])
        users.queryset = user_model.objects.filter(is_active=True).order_by(user_model.USERNAME_FIELD)
