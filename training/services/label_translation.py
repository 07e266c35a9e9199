"""From the labels people gave (per dataset) to the classes a classifier is trained on.

Three rules, in order:

1. **Merge spellings**: labels that differ only in case or spacing (“Zebra”,
   “zebra ”, “Burchell's  zebra” vs “burchell's zebra”) become one class, spelt as
   its most used spelling (ties: the first in alphabetical order), spaces tidied.
2. **Group rare labels under their parent**: a class with fewer than
   ``group_under`` crops joins its parent label's class (the task's label
   hierarchy), going up as long as the class is still under the count.
3. **Exclude rare classes**: a class still under ``exclude_under`` crops is left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


def spelling_key(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass
class Translation:
    """What each (dataset, original label) becomes; None: left out."""

    mapping: dict[tuple[str, str], str | None]
    counts: dict[str, int]  # crops per class kept
    rows: list[dict] = field(default_factory=list)  # for the preview, one per original

    def spec(self) -> dict:
        """label_spec.json: {class: {"dataset_labels": {dataset: [originals]}}}."""
        spec: dict[str, dict] = {}
        for (dataset, original), new in sorted(self.mapping.items()):
            if new is not None:
                labels = spec.setdefault(new, {"dataset_labels": {}})["dataset_labels"]
                labels.setdefault(dataset, []).append(original)
        return dict(sorted(spec.items()))

    def index(self) -> dict[str, str]:
        """label_index.json: {"0": class, …} in alphabetical order."""
        return {str(i): name for i, name in enumerate(sorted(self.counts))}


def translate(counts: dict[tuple[str, str], int], parents: dict[str, str], *,
              group_under: int = 0, exclude_under: int = 0) -> Translation:
    """Apply the three rules to ``counts`` ((dataset, label) -> crops).

    ``parents`` maps a label name to its parent label's name (any spelling).
    """
    spellings: dict[str, Counter] = defaultdict(Counter)
    for (_dataset, original), n in counts.items():
        spellings[spelling_key(original)][original] += n
    for parent in parents.values():
        spellings[spelling_key(parent)][parent] += 0
    spelt = {key: " ".join(min(found, key=lambda s: (-found[s], s)).split())
             for key, found in spellings.items()}
    totals: Counter = Counter()
    for (_dataset, original), n in counts.items():
        totals[spelling_key(original)] += n
    parent_of = {spelling_key(child): spelling_key(parent) for child, parent in parents.items()
                 if spelling_key(child) != spelling_key(parent)}

    # Deepest first, so that a parent's total holds its rare children before it is judged.
    keys = set(totals) | set(parent_of.values())
    moved: dict[str, str] = {}
    for key in sorted(keys, key=lambda k: (-_depth(k, parent_of), k)):
        if group_under and 0 < totals[key] < group_under and key in parent_of:
            moved[key] = parent_of[key]
            totals[parent_of[key]] += totals[key]
            totals[key] = 0

    def target_of(key: str) -> str:
        seen = {key}
        while key in moved and moved[key] not in seen:
            key = moved[key]
            seen.add(key)
        return key

    kept = {key: totals[key] for key in keys if totals[key] and totals[key] >= exclude_under}
    mapping, rows = {}, []
    for (dataset, original), n in sorted(counts.items()):
        target = target_of(spelling_key(original))
        new = spelt[target] if target in kept else None
        mapping[(dataset, original)] = new
        reason = ("merged spelling" if target == spelling_key(original) and spelt[target]
                  != original else "grouped under parent" if target != spelling_key(original)
                  else "")
        if new is None:
            reason = f"excluded: under {exclude_under} crops"
        rows.append({"dataset": dataset, "label": original, "crops": n, "class": new or "",
                     "reason": reason})
    return Translation(mapping, {spelt[key]: n for key, n in kept.items()}, rows)


def _depth(key: str, parent_of: dict[str, str]) -> int:
    depth, seen = 0, {key}
    while key in parent_of and parent_of[key] not in seen:
        key = parent_of[key]
        seen.add(key)
        depth += 1
    return depth
