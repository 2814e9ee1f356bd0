# Inner-ear localiser: one training job per fold and variant, every case predicted by the
# model of the fold that held its subject out, then one evaluation over all variants.

EARS_MODEL_OF_VARIANT = {"full": "full", "no_fps": "no_fps", "no_shape": "full"}


rule ears_train:
    input:
        table=f"{OUT}/ears/folds/{{fold}}/train.tsv",
    output:
        directory(f"{OUT}/models/ears/{{fold}}/{{variant}}"),
    log:
        f"{LOGS}/ears/train/{{fold}}/{{variant}}.log",
    benchmark:
        f"{OUT}/benchmarks/ears/train/{{fold}}/{{variant}}.tsv"
    wildcard_constraints:
        variant="full|no_fps",
    params:
        settings=settings("seed", "ears"),
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=120,
    shell:
        "{MEDSEG} ears train --cases {input.table} --config {CONFIG_FILE} "
        "--variant {wildcards.variant} --threads {threads} --out {output} > {log} 2>&1"


def ears_model_for(wildcards):
    subject = cohort_case("ears", wildcards.case).subject
    fold = fold_of_subject("ears", subject)
    return f"{OUT}/models/ears/{fold}/{EARS_MODEL_OF_VARIANT[wildcards.variant]}"


rule ears_detect:
    input:
        model=ears_model_for,
        ingest=f"{OUT}/ingest/ears/{{case}}",
    output:
        directory(f"{OUT}/predictions/ears/{{variant}}/{{case}}"),
    log:
        f"{LOGS}/ears/detect/{{variant}}/{{case}}.log",
    wildcard_constraints:
        variant="full|no_fps|no_shape",
    params:
        flags=lambda wc: "--no-shape-constraint" if wc.variant == "no_shape" else "",
        device=config["ears"].get("device", "auto"),
    threads: 1
    resources:
        mem_mb=config["resources"]["predict_mem_mb"],
        runtime=15,
    shell:
        "{MEDSEG} ears detect {input.ingest}/image.nii.gz --model {input.model} "
        "--out {output} --threads {threads} --device {params.device} {params.flags} > {log} 2>&1"


rule ears_baseline_train:
    input:
        table=f"{OUT}/ears/folds/{{fold}}/train.tsv",
    output:
        directory(f"{OUT}/models/ears/{{fold}}/baseline"),
    log:
        f"{LOGS}/ears/train/{{fold}}/baseline.log",
    params:
        settings=settings("seed", "ears"),
    threads: 1
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=60,
    shell:
        "{MEDSEG} ears baseline train --cases {input.table} --config {CONFIG_FILE} "
        "--out {output} > {log} 2>&1"


rule ears_baseline_detect:
    input:
        model=lambda wc: f"{OUT}/models/ears/{fold_of_subject('ears', cohort_case('ears', wc.case).subject)}/baseline",
        ingest=f"{OUT}/ingest/ears/{{case}}",
    output:
        directory(f"{OUT}/predictions/ears/baseline/{{case}}"),
    log:
        f"{LOGS}/ears/detect/baseline/{{case}}.log",
    threads: 1
    resources:
        mem_mb=config["resources"]["predict_mem_mb"],
        runtime=15,
    shell:
        "{MEDSEG} ears baseline detect {input.ingest}/image.nii.gz --model {input.model} "
        "--out {output} > {log} 2>&1"


ruleorder: ears_baseline_detect > ears_detect


rule ears_prediction_table:
    input:
        splits=f"{OUT}/ears/splits.json",
        predictions=lambda wc: [
            f"{OUT}/predictions/ears/{variant}/{case.case}"
            for variant in EARS_VARIANTS
            for case in accepted_cases("ears")
        ],
    output:
        f"{OUT}/ears/evaluation/predictions.tsv",
    log:
        f"{LOGS}/ears/prediction_table.log",
    params:
        variants=" ".join(EARS_VARIANTS),
    shell:
        "{MEDSEG} table predictions --splits {input.splits} --ingest-root {OUT}/ingest/ears "
        "--predictions-root {OUT}/predictions/ears --variants {params.variants} "
        "--prediction-file ears.json --out {output} > {log} 2>&1"


rule ears_evaluate:
    input:
        table=f"{OUT}/ears/evaluation/predictions.tsv",
    output:
        summary=f"{OUT}/ears/evaluation/summary.json",
        provenance=f"{OUT}/ears/evaluation/provenance.json",
        per_case=report(
            f"{OUT}/ears/evaluation/per_case.tsv",
            caption="../report/ears_per_case.rst",
            category="Inner ears",
        ),
        ablation=report(
            f"{OUT}/ears/evaluation/ablation.tsv",
            caption="../report/ears_ablation.rst",
            category="Inner ears",
        ),
    log:
        f"{LOGS}/ears/evaluate.log",
    shell:
        "{MEDSEG} ears evaluate --table {input.table} --config {CONFIG_FILE} "
        "--out {OUT}/ears/evaluation > {log} 2>&1"


# Configured real-CT checks whose image exists; the study summary lists the others as skipped.
REAL_CT = {
    entry["name"]: entry
    for entry in (config.get("ears_real_ct") or [] if "ears" in TASKS else [])
    if Path(entry["image"]).exists()
}


rule ears_real_ct:
    input:
        model=f"{OUT}/models/ears/final/full",
        image=lambda wc: REAL_CT[wc.name]["image"],
        annotation=lambda wc: REAL_CT[wc.name]["annotation"],
    output:
        directory(f"{OUT}/ears/real_ct/{{name}}"),
    log:
        f"{LOGS}/ears/real_ct/{{name}}.log",
    params:
        crops=lambda wc: " ".join(f"--crop {k}={v[0]}:{v[1]}" for k, v in REAL_CT[wc.name].get("crops", {}).items()),
        offset=lambda wc: REAL_CT[wc.name].get("ct_offset", "reject"),
        radius=lambda wc: REAL_CT[wc.name].get("match_radius_mm", 15),
        device=config["ears"].get("device", "auto"),
    threads: 1
    resources:
        mem_mb=config["resources"]["predict_mem_mb"],
        runtime=15,
    shell:
        "{MEDSEG} ears real-ct {input.image} --annotation {input.annotation} --model {input.model} "
        "--out {output} --name {wildcards.name} --ct-offset {params.offset} --match-radius-mm {params.radius} "
        "--device {params.device} {params.crops} > {log} 2>&1"


def ears_targets():
    if "ears" not in TASKS:
        return []
    return [
        f"{OUT}/ears/evaluation/summary.json",
        f"{OUT}/models/ears/final/full",
        *[f"{OUT}/ears/real_ct/{name}" for name in REAL_CT],
    ]
