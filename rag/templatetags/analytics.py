from django import template

register = template.Library()


@register.filter
def percent(ratio: float | None) -> str:
    """0.8333 -> "83%"; no data -> "—"."""
    return "—" if ratio is None else f"{ratio * 100:.0f}%"


@register.filter
def ms(value: int | None) -> str:
    return "—" if value is None else f"{value:,} ms"


@register.filter
def points(change: float | None) -> str:
    """A change of ratio in percentage points: +4.2 pts."""
    return "—" if change is None else f"{change:+.1f} pts"
