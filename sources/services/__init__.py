"""Write paths of the sources app: uploads, ingestion, websites, lifecycle."""
