# LV myocardium segmenter: one training job per fold and variant (the ablation), every
# subject segmented by the models that never saw it, then one evaluation.

from snakemake.exceptions import WorkflowError


def lv_init_model():
    """The pre-trained model named by lv.init ([] if none); it must exist before the run."""
    init = config["lv"].get("init")
    if not init:
        return []
    if "lv" in TASKS and not Path(init).exists():
        raise WorkflowError(
            f"lv.init names the model folder {init!r}, which does not exist. Train it first "
            "(the header of this config names the run that makes it) or set lv.init to null."
        )
    return init


rule lv_train:
    input:
        table=f"{OUT}/lv/folds/{{fold}}/train.tsv",
        init=lv_init_model(),
    output:
        directory(f"{OUT}/models/lv/{{fold}}/{{variant}}"),
    log:
        f"{LOGS}/lv/train/{{fold}}/{{variant}}.log",
    benchmark:
        f"{OUT}/benchmarks/lv/train/{{fold}}/{{variant}}.tsv"
    wildcard_constraints:
        variant="|".join(LV_VARIANTS),
    params:
        settings=settings("seed", "lv"),
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=240,
    shell:
        "{MEDSEG} lv train --cases {input.table} --config {CONFIG_FILE} "
        "--variant {wildcards.variant} --threads {threads} --out {output} > {log} 2>&1"


def lv_model_for(wildcards):
    subject = cohort_case("lv", wildcards.case).subject
    return f"{OUT}/models/lv/{fold_of_subject('lv', subject)}/{wildcards.variant}"


rule lv_segment:
    input:
        model=lv_model_for,
        ingest=f"{OUT}/ingest/lv/{{case}}",
    output:
        directory(f"{OUT}/predictions/lv/{{variant}}/{{case}}"),
    log:
        f"{LOGS}/lv/segment/{{variant}}/{{case}}.log",
    wildcard_constraints:
        variant="|".join(LV_VARIANTS),
    params:
        device=config["lv"].get("device", "auto"),
    threads: 1
    resources:
        mem_mb=config["resources"]["predict_mem_mb"],
        runtime=15,
    shell:
        "{MEDSEG} lv segment {input.ingest}/image.nii.gz --model {input.model} "
        "--out {output} --threads {threads} --device {params.device} > {log} 2>&1"


rule lv_prediction_table:
    input:
        splits=f"{OUT}/lv/splits.json",
        predictions=lambda wc: [
            f"{OUT}/predictions/lv/{variant}/{case.case}"
            for variant in LV_VARIANTS
            for case in accepted_cases("lv")
        ],
    output:
        f"{OUT}/lv/evaluation/predictions.tsv",
    log:
        f"{LOGS}/lv/prediction_table.log",
    params:
        variants=" ".join(LV_VARIANTS),
    shell:
        "{MEDSEG} table predictions --splits {input.splits} --ingest-root {OUT}/ingest/lv "
        "--predictions-root {OUT}/predictions/lv --variants {params.variants} "
        "--prediction-file labels.nii.gz --out {output} > {log} 2>&1"


rule lv_evaluate:
    input:
        table=f"{OUT}/lv/evaluation/predictions.tsv",
    output:
        summary=f"{OUT}/lv/evaluation/summary.json",
        provenance=f"{OUT}/lv/evaluation/provenance.json",
        per_frame=f"{OUT}/lv/evaluation/per_frame.tsv",
        per_subject=report(
            f"{OUT}/lv/evaluation/per_subject.tsv",
            caption="../report/lv_per_subject.rst",
            category="LV myocardium",
        ),
        ablation=report(
            f"{OUT}/lv/evaluation/ablation.tsv",
            caption="../report/lv_ablation.rst",
            category="LV myocardium",
        ),
    log:
        f"{LOGS}/lv/evaluate.log",
    shell:
        "{MEDSEG} lv evaluate --table {input.table} --config {CONFIG_FILE} "
        "--out {OUT}/lv/evaluation > {log} 2>&1"


def lv_targets():
    if "lv" not in TASKS:
        return []
    return [
        f"{OUT}/lv/evaluation/summary.json",
        f"{OUT}/models/lv/final/multi_level",
    ]
