from medseg.cohort import read_cohort_sheet


def cohort_sheet_path():
    source = config["cohort"]["source"]
    if source == "sheet":
        return config["cohort"]["sheet"]
    return f"{OUT}/cohort/{source}/cohort.tsv"


checkpoint demo_cohort:
    output:
        sheet=f"{OUT}/cohort/demo/cohort.tsv",
        folder=directory(f"{OUT}/cohort/demo/data"),
    log:
        f"{LOGS}/cohort/demo.log",
    params:
        tasks=" ".join(TASKS),
        settings=settings("seed", "cohort.demo"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "{MEDSEG} phantoms --config {CONFIG_FILE} --tasks {params.tasks} "
        "--out {output.folder} --sheet {output.sheet} > {log} 2>&1"


checkpoint sunnybrook_cohort:
    output:
        sheet=f"{OUT}/cohort/sunnybrook/cohort.tsv",
    log:
        f"{LOGS}/cohort/sunnybrook.log",
    params:
        root=config["cohort"].get("sunnybrook_dir") or "../shared/data/sunnybrook",
    shell:
        "{MEDSEG} cohort sunnybrook {params.root} --out {output.sheet} > {log} 2>&1"


def cohort_cases(task):
    """The cases of one task in the cohort sheet (after the sheet exists)."""
    source = config["cohort"]["source"]
    if source == "demo":
        checkpoints.demo_cohort.get()
    elif source == "sunnybrook":
        checkpoints.sunnybrook_cohort.get()
    return [case for case in read_cohort_sheet(cohort_sheet_path()) if case.task == task]


def cohort_case(task, case_id):
    for case in cohort_cases(task):
        if case.case == case_id:
            return case
    raise ValueError(f"case {case_id!r} of task {task!r} is not in {cohort_sheet_path()}")


def case_sources(wildcards):
    """The case's image and annotation, so that replacing or correcting either reruns the
    case; a path that is missing is left out, for the ingest to report instead of the DAG."""
    case = cohort_case(wildcards.task, wildcards.case)
    return [path for path in (case.image, case.annotation) if path and Path(path).exists()]


checkpoint ingest:
    input:
        sheet=cohort_sheet_path(),
        sources=case_sources,
    output:
        directory(f"{OUT}/ingest/{{task}}/{{case}}"),
    log:
        f"{LOGS}/ingest/{{task}}/{{case}}.log",
    wildcard_constraints:
        task="ears|lv",
    params:
        case=lambda wc: cohort_case(wc.task, wc.case),
        settings=settings("checks", "cohort.contour_origin_px"),
    threads: 1
    resources:
        mem_mb=config["resources"]["predict_mem_mb"],
        runtime=15,
    shell:
        "{MEDSEG} ingest --task {wildcards.task} --sheet {input.sheet} --case {wildcards.case} "
        "--config {CONFIG_FILE} --out {output} > {log} 2>&1"


def ingest_dir(task, case_id):
    return f"{OUT}/ingest/{task}/{case_id}"


def ingest_dirs(task):
    return [ingest_dir(task, case.case) for case in cohort_cases(task)]


def check_verdict(task, case_id):
    folder = checkpoints.ingest.get(task=task, case=case_id).output[0]
    with open(Path(folder) / "check.json") as handle:
        return json.load(handle)


def accepted_cases(task):
    return [case for case in cohort_cases(task) if check_verdict(task, case.case)["status"] == "accepted"]


checkpoint splits:
    input:
        sheet=cohort_sheet_path(),
        ingest=lambda wc: ingest_dirs(wc.task),
    output:
        f"{OUT}/{{task}}/splits.json",
    log:
        f"{LOGS}/{{task}}/splits.log",
    wildcard_constraints:
        task="ears|lv",
    params:
        scheme=config["splits"]["scheme"],
        k=config["splits"]["k"],
        seed=config["seed"],
    shell:
        "{MEDSEG} splits --cohort {input.sheet} --task {wildcards.task} --checks {input.ingest} "
        "--scheme {params.scheme} --k {params.k} --seed {params.seed} --out {output} > {log} 2>&1"


def folds(task):
    with open(checkpoints.splits.get(task=task).output[0]) as handle:
        return [fold["name"] for fold in json.load(handle)["folds"]]


def fold_of_subject(task, subject):
    with open(checkpoints.splits.get(task=task).output[0]) as handle:
        for fold in json.load(handle)["folds"]:
            if subject in fold["test_subjects"]:
                return fold["name"]
    raise ValueError(f"subject {subject!r} is in no fold of {task}")


rule train_table:
    input:
        splits=f"{OUT}/{{task}}/splits.json",
        ingest=lambda wc: ingest_dirs(wc.task),
    output:
        f"{OUT}/{{task}}/folds/{{fold}}/train.tsv",
    log:
        f"{LOGS}/{{task}}/folds/{{fold}}/train_table.log",
    wildcard_constraints:
        task="ears|lv",
    shell:
        "{MEDSEG} table train --splits {input.splits} --fold {wildcards.fold} "
        "--ingest-root {OUT}/ingest/{wildcards.task} --out {output} > {log} 2>&1"
