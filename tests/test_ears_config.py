import dataclasses
from pathlib import Path

import jsonschema
import pytest
import yaml

from medseg.ears.config import SMOKE_OVERRIDES, EarsConfig, from_config
from medseg.errors import ConfigError

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "ears.schema.yaml"


def test_defaults_and_seed():
    config = from_config({"seed": 7})
    assert config.seed == 7
    assert config.spacing_mm == 2.0
    assert config.hu_clip == (-1000.0, 3000.0)
    assert config.stride == 2 ** (len(config.channels) - 1)
    assert from_config({}).seed == EarsConfig().seed


def test_section_values_are_coerced():
    config = from_config({"seed": 1, "ears": {"hu_clip": [-900, 2000], "channels": [4, 8], "patch_size": 32, "threshold": 0.3}})
    assert config.hu_clip == (-900.0, 2000.0)
    assert config.channels == (4, 8)
    assert config.threshold == 0.3


@pytest.mark.parametrize(
    "section, message",
    [
        ({"spacing": 2.0}, "unknown key"),
        ({"seed": 3}, "unknown key"),
        ({"iterations": "many"}, "must be a number"),
        ({"iterations": 2.5}, "integer"),
        ({"flip_lr": 1}, "true or false"),
        ({"hu_clip": [3000, -1000]}, "hu_clip"),
        ({"patch_size": 30}, "multiple of the network stride"),
        ({"threshold_inner_folds": 1}, "threshold_inner_folds"),
    ],
)
def test_bad_sections_are_rejected(section, message):
    with pytest.raises(ConfigError, match=message):
        from_config({"ears": section})


def test_schema_matches_dataclass_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["additionalProperties"] is False
    defaults = EarsConfig().to_dict()
    fields = {f.name for f in dataclasses.fields(EarsConfig)} - {"seed"}
    assert set(schema["properties"]) == fields
    for key, spec in schema["properties"].items():
        assert spec["default"] == defaults[key], key
    jsonschema.validate({k: defaults[k] for k in fields}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"nope": 1}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"iterations": "x"}, schema)


def test_smoke_overrides_are_valid():
    config = from_config({"ears": SMOKE_OVERRIDES})
    assert config.iterations <= 50
    assert config.replace(iterations=3).iterations == 3
