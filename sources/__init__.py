"""Knowledge sources (files, websites) and their chunks."""
