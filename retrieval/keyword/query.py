"""Turning what a user typed into plain search terms.

Only runs of letters and digits survive, so quotes, operators (``AND``, ``NEAR``, ``*``, ``:``,
``-``, ``|``) and any other syntax in the question are just words or nothing: no input can cause
a syntax error or change what the query means.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERMS = 32
MAX_TERM_CHARS = 64
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# English function words: they match nearly every chunk and carry no topic. The list is close to
# the stop words PostgreSQL's ``english`` configuration drops, so both databases rank alike.
STOP_WORDS = frozenset(
    (
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
        "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
        "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
        "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
        "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out",
        "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
        "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
        "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
        "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "s", "t",
        "don",
    )
)


def query_terms(text: str) -> list[str]:
    """Distinct lower-case terms of ``text`` in order, stop words dropped.

    A question made only of stop words ("who is the one?") keeps them: searching for something
    beats returning nothing.
    """
    normalized = unicodedata.normalize("NFKC", text).lower()
    words: list[str] = []
    seen: set[str] = set()
    for match in _WORD.finditer(normalized):
        word = match.group()[:MAX_TERM_CHARS]
        if word not in seen:
            seen.add(word)
            words.append(word)
    content = [word for word in words if word not in STOP_WORDS]
    return (content or words)[:MAX_TERMS]
