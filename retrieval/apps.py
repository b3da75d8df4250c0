from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RetrievalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "retrieval"
    verbose_name = "Retrieval"

    def ready(self) -> None:
        from retrieval import receivers
        from sources.signals import chunks_activated

        chunks_activated.connect(receivers.chunks_activated, dispatch_uid="retrieval.chunks_activated")
        post_migrate.connect(receivers.ensure_keyword_index, sender=self, dispatch_uid="retrieval.keyword_index")
