"""The settings registry: declared once, typed, bounded, stored under the data folder."""

from __future__ import annotations

import pytest

from lookalike.gui import settings as registry
from lookalike.gui.settings import REGISTRY, Setting, Settings


def test_every_setting_is_declared_with_a_default_that_passes_its_own_checks():
    names = [s.name for s in REGISTRY]
    assert len(names) == len(set(names))
    for setting in REGISTRY:
        assert setting.description
        assert setting.check(setting.default) == setting.default


def test_values_are_checked_and_bad_stored_values_fall_back(places):
    settings = Settings.for_places(places)
    assert settings.path.parent == places.data

    with pytest.raises(ValueError, match="at most"):
        settings.set(registry.THUMBNAIL_SIZE, 10_000)
    settings.store.setValue(registry.THUMBNAIL_SIZE.name, "huge")
    assert settings.get(registry.THUMBNAIL_SIZE) == registry.THUMBNAIL_SIZE.default

    settings.set(registry.INDEX_THREADS, 3)
    settings.set(registry.WINDOW_GEOMETRY, b"\x01\x02")
    settings.sync()
    reopened = Settings.for_places(places)
    assert reopened.get(registry.INDEX_THREADS) == 3
    assert reopened.get(registry.WINDOW_GEOMETRY) == b"\x01\x02"


def test_undeclared_settings_are_refused(places):
    stray = Setting("stray", int, 1, "not in the registry")
    with pytest.raises(KeyError):
        Settings.for_places(places).get(stray)
