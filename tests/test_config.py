from pathlib import Path

import pytest
import yaml

from medseg.config import load_config
from medseg.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(path.stem for path in (ROOT / "configs").glob("*.yaml")))
def test_shipped_configs_validate_and_get_defaults(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config["splits"]["scheme"] == "loso"
    assert isinstance(config["seed"], int)
    for task in config["tasks"]:
        assert isinstance(config[task], dict) and config[task], f"{task} defaults were not filled in"


def _write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="colour"):
        load_config(_write(tmp_path, {"cohort": {"source": "demo"}, "colour": "blue"}))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match="seed|not of type"):
        load_config(_write(tmp_path, {"cohort": {"source": "demo"}, "seed": "forty-two"}))


def test_wrong_enum_is_named(tmp_path):
    with pytest.raises(ConfigError, match="leave_one_out|is not one of"):
        load_config(_write(tmp_path, {"cohort": {"source": "demo"}, "splits": {"scheme": "leave_one_out"}}))


def test_nested_method_section_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_config(_write(tmp_path, {"cohort": {"source": "demo"}, "lv": {"no_such_setting": 1}}))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("cohort: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
