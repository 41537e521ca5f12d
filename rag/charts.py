"""Bar charts as plain geometry for inline SVG templates: no JavaScript, no chart library, no CDN."""

from dataclasses import dataclass


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str  # shown as a tooltip and read by screen readers


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    max_value: int
    labels: list[tuple[float, str]]  # x position and text, a few along the bottom
    legend: list[tuple[str, str]]  # fill and name


def stacked_bars(
    labels: list[str], series: list[tuple[str, str, list[int]]], width: int = 720, height: int = 180
) -> Chart:
    """One stacked bar per label; series are (name, fill, values), stacked bottom-up in order."""
    plot_height = height - 20  # room for the labels below
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    slot = width / max(len(labels), 1)
    bars = []
    for i, label in enumerate(labels):
        base = plot_height
        for name, fill, values in series:
            if not values[i]:
                continue
            h = values[i] / top * (plot_height - 4)
            base -= h
            bar_width = min(slot * 0.8, 40)  # a few bars stay bars, not blocks
            x = i * slot + (slot - bar_width) / 2
            bars.append(Bar(x, base, bar_width, h, fill, f"{label}: {values[i]} {name}"))
    step = max(1, len(labels) // 6)
    marks = [(i * slot + slot / 2, label) for i, label in enumerate(labels) if i % step == 0]
    legend = [(fill, name) for name, fill, _ in series]
    return Chart(width, height, bars, max(totals, default=0), marks, legend)
