"""The 20 detection classes, their groups and the lighting conditions: the one place they are defined."""

from typing import Final

CLASS_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "people": ("person", "child", "cyclist", "motorcyclist"),
    "vehicles": (
        "car",
        "pickup",
        "minivan",
        "suv",
        "van",
        "delivery_truck",
        "bus",
        "motorcycle",
        "bicycle",
    ),
    "animals_objects": ("dog", "cat", "deer", "bird", "package", "trash_bin", "stroller"),
}
"""Class groups used by the class-group specialists, in a fixed order."""

CLASS_NAMES: Final[tuple[str, ...]] = tuple(name for group in CLASS_GROUPS.values() for name in group)
"""All 20 class names; a class id is an index into this tuple."""

CONDITIONS: Final[tuple[str, ...]] = ("day", "dusk", "night")
"""Lighting conditions used by the condition specialists."""

GROUPS: Final[tuple[str, ...]] = tuple(CLASS_GROUPS)
"""Class group names, in order."""


def class_ids(group: str) -> tuple[int, ...]:
    """Return the global class ids of a class group.

    Raises:
        KeyError: if ``group`` is not one of :data:`GROUPS`.
    """
    return tuple(CLASS_NAMES.index(name) for name in CLASS_GROUPS[group])
