"""A printed summary of a training set: counts per class and origin, before and after balancing."""

from .manifest import TrainingRow, count_rows


def summarize(rows: list[TrainingRow]) -> str:
    """Counts per class before balancing (real rows), added per origin, and after, as a table.

    The last line gives the minority/majority ratio before and after.
    """
    counts = count_rows(rows)
    if not counts:
        return "no rows"
    names = list(counts)
    width = max(6, *(len(name) for name in names))
    header = f"{'class':<{width}}  {'before':>6}  {'+oversampled':>12}  {'+synthetic':>10}  {'after':>6}"
    lines = [header]
    totals = [0, 0, 0, 0]
    after = {}
    for name in names:
        real, oversampled, synthetic = (counts[name][o] for o in ("real", "oversampled", "synthetic"))
        after[name] = real + oversampled + synthetic
        values = (real, oversampled, synthetic, after[name])
        totals = [t + v for t, v in zip(totals, values)]
        lines.append(f"{name:<{width}}  {real:>6}  {oversampled:>12}  {synthetic:>10}  {after[name]:>6}")
    lines.append(f"{'total':<{width}}  {totals[0]:>6}  {totals[1]:>12}  {totals[2]:>10}  {totals[3]:>6}")
    before = {name: counts[name]["real"] for name in names}
    lines.append(f"minority/majority  before {_ratio(before)}, after {_ratio(after)}")
    return "\n".join(lines)


def _ratio(counts: dict[str, int]) -> str:
    low, high = min(counts.values()), max(counts.values())
    value = low / high if high else 0.0
    return f"{value:.3f} ({low}:{high})"
