from django.apps import AppConfig


class BotsmithConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "botsmith"
    verbose_name = "Chatbots"
