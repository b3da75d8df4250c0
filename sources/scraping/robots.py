"""robots.txt rules per site, fetched once per origin through the safe fetcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping.fetch import SafeFetcher

MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309 lets crawlers stop parsing after 500 KiB


@dataclass(slots=True)
class RobotsRules:
    """Parsed rules of one origin.

    ``status`` is "ok", "missing" (4xx: allow all, RFC 9309 §2.3.1.3) or "unreachable"
    (5xx, timeout, refused: disallow all, RFC 9309 §2.3.1.4 — we would rather skip a site
    for this crawl than hammer one that may be failing or hiding its rules), or "blocked"
    (the origin itself failed the address check: nothing there may be fetched).
    """

    status: str
    parser: RobotFileParser | None = None
    detail: str = ""
    sitemaps: list[str] = field(default_factory=list)
    crawl_delays: dict[str, float] = field(default_factory=dict)  # lower-case agent -> seconds


class RobotsPolicy:
    def __init__(self, fetcher: SafeFetcher, user_agent: str | None = None) -> None:
        self.fetcher = fetcher
        self.user_agent = user_agent or fetcher.user_agent
        self._rules: dict[str, RobotsRules] = {}

    def rules_for(self, url: str) -> RobotsRules:
        origin = _origin(url)
        if origin not in self._rules:
            self._rules[origin] = self._load(origin)
        return self._rules[origin]

    def can_fetch(self, url: str) -> bool:
        rules = self.rules_for(url)
        if rules.status == "missing":
            return True
        if rules.status in ("unreachable", "blocked") or rules.parser is None:
            return False
        return rules.parser.can_fetch(self.user_agent, url)

    def crawl_delay(self, url: str) -> float | None:
        """Crawl-delay of the group naming our agent, else of ``*``.

        Parsed here because robotparser ignores fractional delays such as ``0.5``.
        """
        delays = self.rules_for(url).crawl_delays
        token = self.user_agent.split("/", 1)[0].lower()
        for agent, delay in delays.items():
            if agent != "*" and agent in token:
                return delay
        return delays.get("*")

    def sitemaps(self, url: str) -> list[str]:
        return list(self.rules_for(url).sitemaps)

    def _load(self, origin: str) -> RobotsRules:
        try:
            result = self.fetcher.fetch(origin + "/robots.txt", accept="text/plain,*/*;q=0.5")
        except ProcessingError as exc:
            if exc.code == ErrorCode.BLOCKED_URL:
                return RobotsRules("blocked", detail=exc.message)
            return RobotsRules("unreachable", detail=f"robots.txt could not be fetched: {exc.message}")
        if 400 <= result.status_code < 500:
            return RobotsRules("missing", detail=f"robots.txt answered HTTP {result.status_code}")
        if not 200 <= result.status_code < 300:
            return RobotsRules("unreachable", detail=f"robots.txt answered HTTP {result.status_code}")
        return parse_robots(result.body)


def parse_robots(body: bytes) -> RobotsRules:
    text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return RobotsRules("ok", parser=parser, sitemaps=list(parser.site_maps() or []), crawl_delays=_crawl_delays(text))


def _crawl_delays(text: str) -> dict[str, float]:
    delays: dict[str, float] = {}
    group: list[str] = []
    in_agents = False
    for raw in text.splitlines():
        key, _, value = raw.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            group = group if in_agents else []
            group.append(value.lower())
            in_agents = True
            continue
        if key:
            in_agents = False
        if key == "crawl-delay":
            try:
                delay = float(value)
            except ValueError:
                continue
            if delay >= 0:
                for agent in group:
                    delays.setdefault(agent, delay)
    return delays


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
