# medseg study: `snakemake --cores 8` runs the demo study; `--configfile configs/X.yaml` another.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")

if not config:

    configfile: "configs/demo.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
# Section schemas once more on their own: defaults are not filled in through a $ref.
from medseg.config import check_method_settings, config_sections
from medseg.errors import ConfigError
from snakemake.exceptions import WorkflowError

for section, schema in config_sections(config):
    validate(section, f"workflow/schemas/{schema}")
try:
    check_method_settings(config)
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/ears.smk"
include: "workflow/rules/lv.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        study_targets,
    default_target: True
