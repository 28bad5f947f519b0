"""Tiny inline-SVG charts: no JavaScript, no CDN, nothing to fetch; the report works offline.

Each function returns one ``<svg class="plot" data-plot=KIND>`` element as a string. Values
are plotted on linear axes with "nice" ticks; text is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
WIDTH, HEIGHT = 640, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 180, 30, 50


@dataclass(frozen=True)
class Series:
    """One curve: points in x order, each with an optional label (e.g. "c16")."""

    name: str
    xs: list[float]
    ys: list[float]
    labels: list[str]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw),
               default=10 * magnitude)
    start = math.floor(low / step) * step
    ticks = [start + i * step for i in range(int(math.ceil((high - start) / step)) + 1)]
    return [round(t, 10) for t in ticks]


class _Frame:
    """Maps data to pixels for one plot area and draws its axes."""

    def __init__(self, xs: list[float], ys: list[float], x_label: str, y_label: str) -> None:
        self.x_ticks = nice_ticks(min(xs, default=0.0), max(xs, default=1.0))
        self.y_ticks = nice_ticks(min(0.0, min(ys, default=0.0)), max(ys, default=1.0))
        self.x_label, self.y_label = x_label, y_label
        self.right = WIDTH - MARGIN_RIGHT
        self.bottom = HEIGHT - MARGIN_BOTTOM

    def x(self, value: float) -> float:
        low, high = self.x_ticks[0], self.x_ticks[-1]
        return MARGIN_LEFT + (value - low) / ((high - low) or 1) * (self.right - MARGIN_LEFT)

    def y(self, value: float) -> float:
        low, high = self.y_ticks[0], self.y_ticks[-1]
        return self.bottom - (value - low) / ((high - low) or 1) * (self.bottom - MARGIN_TOP)

    def axes(self) -> list[str]:
        parts = [f'<line x1="{MARGIN_LEFT}" y1="{self.bottom}" x2="{self.right}" '
                 f'y2="{self.bottom}" stroke="#333"/>',
                 f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" '
                 f'y2="{self.bottom}" stroke="#333"/>']
        for tick in self.x_ticks:
            parts.append(f'<text x="{self.x(tick):.1f}" y="{self.bottom + 16}" '
                         f'text-anchor="middle" class="tick">{_fmt(tick)}</text>')
        for tick in self.y_ticks:
            parts.append(f'<line x1="{MARGIN_LEFT}" y1="{self.y(tick):.1f}" x2="{self.right}" '
                         f'y2="{self.y(tick):.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{self.y(tick) + 4:.1f}" '
                         f'text-anchor="end" class="tick">{_fmt(tick)}</text>')
        parts.append(f'<text x="{(MARGIN_LEFT + self.right) / 2}" y="{HEIGHT - 12}" '
                     f'text-anchor="middle" class="label">{escape(self.x_label)}</text>')
        parts.append(f'<text transform="translate(16,{(MARGIN_TOP + self.bottom) / 2}) '
                     f'rotate(-90)" text-anchor="middle" class="label">'
                     f'{escape(self.y_label)}</text>')
        return parts


def line_chart(kind: str, title: str, series: list[Series], x_label: str, y_label: str) -> str:
    """Connected points per series, each point labelled, legend on the right."""
    xs = [x for s in series for x in s.xs if _finite(x)]
    ys = [y for s in series for y in s.ys if _finite(y)]
    frame = _Frame(xs, ys, x_label, y_label)
    parts = frame.axes()
    for index, one in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = [(frame.x(x), frame.y(y), label)
                  for x, y, label in zip(one.xs, one.ys, one.labels) if _finite(x) and _finite(y)]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                         f'stroke-width="2" class="series"/>')
        for px, py, label in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}">'
                         f'<title>{escape(one.name)} {escape(label)}</title></circle>')
            parts.append(f'<text x="{px + 5:.1f}" y="{py - 6:.1f}" class="point">'
                         f'{escape(label)}</text>')
        parts.append(_legend_entry(index, one.name, color))
    return _svg(kind, title, parts)


def box_chart(kind: str, title: str, groups: list[tuple[str, list[float]]], x_label: str) -> str:
    """Horizontal box plots (p1, p25, p50, p75, p99 whiskers) one row per group."""
    height = MARGIN_TOP + MARGIN_BOTTOM + 26 * max(len(groups), 1)
    values = [v for _, vs in groups for v in vs if _finite(v)]
    ticks = nice_ticks(min(0.0, min(values, default=0.0)), max(values, default=1.0))
    left, right = 260, WIDTH - 20

    def x(value: float) -> float:
        return left + (value - ticks[0]) / ((ticks[-1] - ticks[0]) or 1) * (right - left)

    parts = []
    for row, (label, vs) in enumerate(groups):
        finite = np.array([v for v in vs if _finite(v)], dtype=float)
        cy = MARGIN_TOP + 26 * row + 13
        parts.append(f'<text x="{left - 6}" y="{cy + 4}" text-anchor="end" class="tick">'
                     f'{escape(label)}</text>')
        if finite.size == 0:
            continue
        p1, p25, p50, p75, p99 = np.percentile(finite, [1, 25, 50, 75, 99])
        color = PALETTE[row % len(PALETTE)]
        parts.append(f'<line x1="{x(p1):.1f}" y1="{cy}" x2="{x(p99):.1f}" y2="{cy}" '
                     f'stroke="{color}"/>')
        parts.append(f'<rect x="{x(p25):.1f}" y="{cy - 8}" width="{max(x(p75) - x(p25), 1):.1f}" '
                     f'height="16" fill="{color}" fill-opacity="0.35" stroke="{color}" '
                     f'class="box"><title>{escape(label)}: p50 {_fmt(p50)}, p99 {_fmt(p99)}'
                     f'</title></rect>')
        parts.append(f'<line x1="{x(p50):.1f}" y1="{cy - 8}" x2="{x(p50):.1f}" y2="{cy + 8}" '
                     f'stroke="#000" stroke-width="2"/>')
    bottom = height - MARGIN_BOTTOM
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>')
    for tick in ticks:
        parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle" '
                     f'class="tick">{_fmt(tick)}</text>')
    parts.append(f'<text x="{(left + right) / 2}" y="{height - 12}" text-anchor="middle" '
                 f'class="label">{escape(x_label)}</text>')
    return _svg(kind, title, parts, height)


def share_chart(kind: str, title: str, rows: list[tuple[str, float, float | None]]) -> str:
    """Horizontal bars of a share in [0, 1] per row, with a tick at the expected share."""
    height = MARGIN_TOP + MARGIN_BOTTOM + 22 * max(len(rows), 1)
    left, right = 320, WIDTH - 20
    parts = []
    for row, (label, share, expected) in enumerate(rows):
        cy = MARGIN_TOP + 22 * row + 11
        width = max(share, 0) * (right - left)
        parts.append(f'<text x="{left - 6}" y="{cy + 4}" text-anchor="end" class="tick">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{cy - 7}" width="{width:.1f}" height="14" '
                     f'fill="{PALETTE[0]}" class="bar"><title>{escape(label)}: '
                     f'{share:.1%}</title></rect>')
        parts.append(f'<text x="{left + width + 4:.1f}" y="{cy + 4}" class="point">'
                     f'{share:.1%}</text>')
        if expected is not None and _finite(expected):
            ex = left + expected * (right - left)
            parts.append(f'<line x1="{ex:.1f}" y1="{cy - 9}" x2="{ex:.1f}" y2="{cy + 9}" '
                         f'stroke="#d62728" stroke-width="2" class="expected"/>')
    return _svg(kind, title, parts, height)


def _legend_entry(index: int, name: str, color: str) -> str:
    x, y = WIDTH - MARGIN_RIGHT + 14, MARGIN_TOP + 18 * index + 8
    return (f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{y + 1}" class="legend">{escape(name)}</text>')


def _svg(kind: str, title: str, parts: list[str], height: int = HEIGHT) -> str:
    body = "\n".join(parts)
    return (f'<svg class="plot" data-plot="{escape(kind)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">'
            f'<title>{escape(title)}</title>\n{body}\n</svg>')


def _finite(value: object) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
