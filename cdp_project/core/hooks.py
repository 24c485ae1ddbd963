"""The one shape of a hook registry: a lower layer names a hook, the apps above fill it in
their AppConfig.ready() (DESIGN.md §2: a lower app never imports a higher one). A registry
is a dict whose keys iterate in sorted order, so "every hook, in key order" reads
`for key in registry` everywhere."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(MutableMapping[str, T], Generic[T]):
    """Named hooks of one kind. `unique=True` refuses a second, different value for a taken
    key (a programming error, e.g. two handlers of one job kind); otherwise registering a
    key again replaces its value (AppConfig.ready() may run twice)."""

    def __init__(self, name: str, *, unique: bool = False) -> None:
        self.name = name
        self.unique = unique
        self._items: dict[str, T] = {}

    def register(self, key: str, value: T) -> None:
        existing = self._items.get(key)
        if self.unique and existing is not None and existing is not value:
            raise ValueError(f"The {self.name} {key!r} is taken already ({existing!r}).")
        self._items[key] = value

    def unregister(self, key: str) -> None:
        self._items.pop(key, None)

    def __setitem__(self, key: str, value: T) -> None:
        self.register(key, value)

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __getitem__(self, key: str) -> T:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, keys={list(self)!r})"
