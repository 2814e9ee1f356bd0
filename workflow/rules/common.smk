import json
import os

import yaml

from snakemake.logging import logger

from medseg.device import available_cpus, oversubscription_env
from medseg.provenance import config_hash

OUT = config["output_dir"]
LOGS = f"logs/{config['study_name']}"  # one folder per study: two studies run from one checkout keep their own logs
TASKS = config["tasks"]
# Every rule calls the package through the interpreter that runs Snakemake, so the DAG
# works from the virtual environment without activating it.
MEDSEG = f'"{sys.executable}" -m medseg'
CONFIG_FILE = f"{OUT}/config/config.yaml"

EARS_VARIANTS = ["full", "no_fps", "no_shape", "baseline"]
EARS_TRAINED_VARIANTS = ["full", "no_fps"]
LV_VARIANTS = ["multi_level", "one_level", "cnn"]


def _write_resolved_config():
    """Write the validated config (defaults filled in) where every rule can read it.

    The file is rewritten only when its content changes, so an unchanged config never
    makes Snakemake rerun anything.
    """
    text = yaml.safe_dump(
        {**config, "config_hash": config_hash(config)}, sort_keys=True, default_flow_style=False
    )
    path = Path(CONFIG_FILE)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)


_write_resolved_config()


def _requested_cores():
    try:
        return int(workflow.cores)
    except Exception:  # no --cores (a cluster executor, or a dry run without it)
        return None


for _name, _value in oversubscription_env(_requested_cores()).items():
    if _name not in os.environ:
        os.environ[_name] = _value
        logger.info(
            f"--cores {_requested_cores()} on {available_cpus()} CPU(s): jobs share them, "
            f"so torch threads wait passively ({_name}={_value})"
        )


def settings(*keys):
    """The named config entries (dotted paths) as canonical JSON, for a rule's params.

    Snakemake reruns a job whose params changed since its outputs were made, so a rule
    that reads these entries from the config file reruns when they are edited, and only
    then.
    """
    chosen = {}
    for key in keys:
        value = config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        chosen[key] = value
    return json.dumps(chosen, sort_keys=True)
