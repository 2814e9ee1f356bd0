from pathlib import Path

import pytest
import yaml

from medseg.errors import ConfigError
from medseg.lv.config import LVConfig, from_config

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "lv.schema.yaml"


def test_defaults_and_seed():
    config = from_config({"seed": 42, "lv": {"variant": "cnn", "iterations": 5}})
    assert config.seed == 42 and config.variant == "cnn" and config.iterations == 5
    assert config.depth == 56 and config.train_crop == 48
    assert from_config({}).variant == "multi_level"


@pytest.mark.parametrize(
    "section, match",
    [({"learning_rat": 0.1}, "unknown key"), ({"depth": 10}, "6n\\+2"), ({"variant": "x"}, "variant"), ({"crop_size": 30}, "multiple of 4"),
     ({"train_crop": 50}, "train_crop"), ({"train_crop": 12}, "train_crop"),
     ({"aug_scar_prob": 1.5}, "aug_scar_prob"), ({"aug_scar_signal": [0.9, 0.1]}, "aug_scar_signal"), ({"aug_scar_signal": [0.5]}, "aug_scar_signal")],
)
def test_rejects_bad_config(section, match):
    with pytest.raises(ConfigError, match=match):
        LVConfig.from_config({"lv": section})


def test_schema_matches_dataclass_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["additionalProperties"] is False
    defaults = LVConfig().to_dict()
    defaults.pop("seed")
    assert set(schema["properties"]) == set(defaults)
    for key, value in defaults.items():
        assert schema["properties"][key]["default"] == value, key


def test_schema_validates_and_fills_defaults():
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text())
    jsonschema.validate({"variant": "cnn", "iterations": 3}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"bogus": 1}, schema)
