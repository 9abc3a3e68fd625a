"""The watchlist: companies (name, aliases, ticker) and topics (keywords) found in text.

```yaml
companies:
  - name: Nokia
    aliases: [Nokia Oyj, Nokia Corporation]
    ticker: NOKIA
topics:
  - name: layoffs
    keywords: [layoff, layoffs, job cuts, redundancies]
```

Names and aliases match as whole words, ignoring case; a ticker matches as written (``NOKIA``)
or with a cash tag (``$NOKIA``); keywords match as whole words, ignoring case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whet.data.text_files import read_text_file
from whet.errors import DataError, problems_message
from whet.io.yaml_loader import load_yaml


class Company(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1)
    aliases: list[str] = Field(default_factory=list)
    ticker: str | None = None


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1)
    keywords: list[str] = Field(..., min_length=1)


class WatchlistFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    companies: list[Company] = Field(default_factory=list)
    topics: list[Topic] = Field(default_factory=list)


@dataclass
class Watchlist:
    patterns: list[tuple[str, re.Pattern]]  # (key, pattern); keys: "entity:<name>" or "topic:<name>"

    def keys(self, text: str) -> list[str]:
        """The watchlist keys a text mentions, each once, in watchlist order."""
        return [key for key, pattern in self.patterns if pattern.search(text)]


def _words(phrases: list[str]) -> str:
    return "|".join(re.escape(p.strip()) for p in sorted(phrases, key=len, reverse=True) if p.strip())


def read_watchlist(path: str | Path) -> Watchlist:
    path = Path(path)
    try:
        raw = load_yaml(read_text_file(path)) or {}
        parsed = WatchlistFile.model_validate(raw)
    except ValidationError as err:
        raise DataError(problems_message(str(path), [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                     for e in err.errors()])) from None
    except Exception as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path}: not a watchlist ({str(err).splitlines()[0]}); see docs/monitor.md") from None
    patterns = []
    seen = set()
    for company in parsed.companies:
        key = f"entity:{company.name}"
        if key in seen:
            raise DataError(f"{path}: company {company.name!r} is listed twice")
        seen.add(key)
        alternatives = [rf"(?i:\b(?:{_words([company.name, *company.aliases])})\b)"]
        if company.ticker:
            alternatives.append(rf"(?:\$|\b){re.escape(company.ticker)}\b")
        patterns.append((key, re.compile("|".join(alternatives))))
    for topic in parsed.topics:
        key = f"topic:{topic.name}"
        if key in seen:
            raise DataError(f"{path}: topic {topic.name!r} is listed twice")
        seen.add(key)
        patterns.append((key, re.compile(rf"(?i:\b(?:{_words(topic.keywords)})\b)")))
    return Watchlist(patterns)
