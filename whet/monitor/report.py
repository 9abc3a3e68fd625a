"""``whet monitor report``: the dashboard as files, for people who want one: a Markdown report
with a PNG chart per entity or topic (sentiment index with its interval, volume, alerts)."""

from __future__ import annotations

import math
from pathlib import Path

from whet.io.atomic import atomic_directory
from whet.monitor.alerts import iso
from whet.monitor.settings import MonitorConfig, duration_seconds
from whet.monitor.store import MonitorStore
from whet.monitor.windows import window_figures


def write_report(store: MonitorStore, config: MonitorConfig, output: Path, *, since: float, until: float | None = None,
                 window: str | None = None, keys: list[str] | None = None, documents: int = 5) -> Path:
    """Write ``output/report.md`` and one PNG per key; returns the Markdown file."""
    window = window or config.windows[0]
    size = duration_seconds(window)
    until = until if until is not None else (store.latest_timestamp() or since) + 1
    start, end = math.floor(since / size) * size, (math.floor(until / size) + 1) * size
    keys = keys or sorted(store.keys(), key=lambda k: (k != "overall", k))
    counts: dict[str, dict[float, tuple[int, int, int]]] = {}
    for c in store.window_counts(size, start=start, end=end, keys=keys, negative_label=config.sentiment.negative_label,
                                 positive_label=config.sentiment.positive_label):
        counts.setdefault(c.key, {})[c.start] = (c.documents, c.negative, c.positive)
    alerts = [a for a in store.alerts(since=start) if a["window_start"] < end and a["key"] in keys]
    lines = [f"# Sentiment report, {iso(start)} to {iso(end)}", "",
             f"Windows of {window}; {len(keys)} entities and topics; {len(alerts)} alerts.", ""]
    if alerts:
        lines += ["## Alerts", "", "| window | key | rule | why |", "| --- | --- | --- | --- |"]
        lines += [f"| {iso(a['window_start'])} | {a['key']} | {a['rule']} | {a['evidence']['why']} |" for a in alerts]
        lines.append("")
    with atomic_directory(output) as folder:
        for key in keys:
            series = [(at, *counts.get(key, {}).get(at, (0, 0, 0))) for at in range(int(start), int(end), size)]
            total = sum(n for _, n, _, _ in series)
            overall = window_figures(total, sum(neg for _, _, neg, _ in series), sum(pos for _, _, _, pos in series))
            image = f"{_file_name(key)}.png"
            _plot(folder / image, key, series, [a["window_start"] for a in alerts if a["key"] == key])
            lines += [f"## {key}", "", f"{total} documents; negative share {overall['negative_share']}, sentiment index "
                      f"{overall['index']} [{overall['index_low']}, {overall['index_high']}].", "",
                      f"![{key}]({image})", ""]
            worst = store.most_negative(key, start, end, documents)
            if worst:
                lines += ["| time | source | negative | text |", "| --- | --- | ---: | --- |"]
                lines += [f"| {iso(d['timestamp'])} | {d['source']} | {d['negative']:.2f} | "
                          f"{d['text'].replace('|', '/').replace(chr(10), ' ')} |" for d in worst]
                lines.append("")
        (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return output / "report.md"


def _file_name(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in key)


def _plot(path: Path, key: str, series: list[tuple], alert_starts: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime, timezone

    import matplotlib.pyplot as plt

    when = [datetime.fromtimestamp(at, tz=timezone.utc) for at, *_ in series]
    figures = [window_figures(n, neg, pos) for _, n, neg, pos in series]
    index = [f["index"] if f["index"] is not None else float("nan") for f in figures]
    low = [f["index_low"] if f["index_low"] is not None else float("nan") for f in figures]
    high = [f["index_high"] if f["index_high"] is not None else float("nan") for f in figures]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, height_ratios=[2, 1])
    top.fill_between(when, low, high, color="#93c5fd", alpha=0.5, label="95 % interval")
    top.plot(when, index, color="#2563eb", label="sentiment index")
    for start in alert_starts:
        top.axvline(datetime.fromtimestamp(start, tz=timezone.utc), color="#dc2626", linestyle="--", linewidth=1)
    top.set_ylim(-1, 1)
    top.set_title(key)
    top.legend(loc="lower left", fontsize=8)
    bottom.bar(when, [n for _, n, _, _ in series], width=(when[1] - when[0]) * 0.8 if len(when) > 1 else 0.03,
               color="#475569")
    bottom.set_ylabel("documents")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
