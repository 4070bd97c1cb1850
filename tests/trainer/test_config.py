"""The training configuration: the shipped recipe, older runs' retired settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.errors import ParameterError
from trainer.config import RETIRED, TrainConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "trainer" / "configs" / "default_model.yaml"
SHIPPED_CARD = ROOT / "resources" / "models" / "default" / "card.json"


def test_the_shipped_recipe_and_the_shipped_models_config_load() -> None:
    recipe = load_config(RECIPE)
    assert load_config().features.segment.hpss  # the seed's base.yaml, use_unlabeled: true
    assert recipe.song_weight == 0.3 and recipe.variants == 1
    assert not set(RETIRED) & set(recipe.to_dict())
    stored = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))["training"]["config"]
    # the card was written before the retired settings went; they are dropped knowingly
    assert {"use_unlabeled", "num_workers"} <= set(stored)
    from_card = TrainConfig.from_dict(stored)
    assert from_card.features == recipe.features and from_card.model == recipe.model
    assert TrainConfig.from_dict(from_card.to_dict()) == from_card


def test_a_retired_setting_that_asks_for_removed_behaviour_is_one_clear_error(
        tmp_path: Path) -> None:
    old_run = {**TrainConfig().to_dict(), "source_weight": 0.0, "source_identities": 0,
               "songs_per_source": 3, "num_workers": 4}
    assert TrainConfig.from_dict(old_run) == TrainConfig()
    with pytest.raises(ParameterError, match="source_weight: 0.2 is no longer supported "
                                             r"\(the source share of the loss was measured"):
        TrainConfig.from_dict({**old_run, "source_weight": 0.2})
    base = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    base["train"]["source_identities"] = 6
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    with pytest.raises(ParameterError, match="source_identities: 6 is no longer supported"):
        load_config(tmp_path / "old.yaml")
    base["train"].pop("source_identities")
    base["data"]["use_unlabeled"] = False
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    with pytest.raises(ParameterError, match="other segments of the same song"):
        load_config(tmp_path / "old.yaml")
    with pytest.raises(ParameterError, match="unknown train key 'sourceweight'"):
        TrainConfig.from_base({"train": {"sourceweight": 0.1}})


def test_the_real_music_recipe_loads_and_reads_the_cache_the_subset_fills() -> None:
    from trainer.cache import layout_of

    recipe = load_config(ROOT / "trainer" / "configs" / "real_music_laptop.yaml")
    shipped = load_config(RECIPE)
    assert recipe.source_prob == 0.5 and shipped.source_prob == 0.0
    assert recipe.max_seconds == 30 and recipe.variants == 1
    assert recipe.model == shipped.model and recipe.features == shipped.features
    assert layout_of(recipe) != layout_of(shipped)
    with pytest.raises(ParameterError, match="source_prob must lie in"):
        TrainConfig(source_prob=1.5)
