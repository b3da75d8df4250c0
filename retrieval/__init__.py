"""Retrieval: keyword and semantic indexes over the active chunks of ``sources``, and hybrid search."""
