# Study-level outputs: what was rejected and why, the metrics of both tasks and provenance.


rule cohort_status:
    input:
        sheet=cohort_sheet_path(),
        ingest=lambda wc: [folder for task in TASKS for folder in ingest_dirs(task)],
    output:
        report(
            f"{OUT}/report/cohort_status.tsv",
            caption="../report/cohort_status.rst",
            category="Cohort",
        ),
    log:
        f"{LOGS}/report/cohort_status.log",
    shell:
        "{MEDSEG} report cohort --ingest {input.ingest} --out {output} > {log} 2>&1"


rule study_summary:
    input:
        status=f"{OUT}/report/cohort_status.tsv",
        summaries=lambda wc: [f"{OUT}/{task}/evaluation/summary.json" for task in TASKS],
        real_ct=lambda wc: [f"{OUT}/ears/real_ct/{name}" for name in REAL_CT],
    output:
        f"{OUT}/report/study_summary.json",
    log:
        f"{LOGS}/report/study_summary.log",
    params:
        real_ct=lambda wc, input: ("--real-ct " + " ".join(input.real_ct)) if input.real_ct else "",
    shell:
        "{MEDSEG} report summary --config {CONFIG_FILE} --status {input.status} "
        "--summaries {input.summaries} {params.real_ct} --out {output} > {log} 2>&1"


def study_targets(wildcards):
    return ears_targets() + lv_targets() + [f"{OUT}/report/study_summary.json", f"{OUT}/qa/index.html", f"{OUT}/qa/study.html"]


# QA pages a radiologist pages through (keyboard: n/p to move, a/c/r to rate) and the
# study page a paper can cite. Case pages show the full method / multi-level model.
QA_VARIANT = {"ears": "full", "lv": "multi_level"}


def qa_page_order():
    return [f"{task}/{case.case}.html" for task in TASKS for case in cohort_cases(task)]


def qa_neighbours(wildcards):
    pages = qa_page_order()
    index = pages.index(f"{wildcards.task}/{wildcards.case}.html")
    previous = f"../{pages[index - 1]}" if index > 0 else ""
    following = f"../{pages[index + 1]}" if index + 1 < len(pages) else ""
    return (f"--prev {previous} " if previous else "") + (f"--next {following}" if following else "")


def qa_case_inputs(wildcards):
    inputs = {"ingest": ingest_dir(wildcards.task, wildcards.case)}
    if check_verdict(wildcards.task, wildcards.case)["status"] == "accepted":
        inputs["prediction"] = f"{OUT}/predictions/{wildcards.task}/{QA_VARIANT[wildcards.task]}/{wildcards.case}"
    return inputs


rule qa_case:
    input:
        unpack(qa_case_inputs),
    output:
        f"{OUT}/qa/{{task}}/{{case}}.html",
    log:
        f"{LOGS}/qa/{{task}}/{{case}}.log",
    wildcard_constraints:
        task="ears|lv",
    params:
        # From the wildcards, not the input: while an ingest checkpoint is due to rerun,
        # Snakemake formats this command with placeholder inputs.
        ingest=lambda wc: ingest_dir(wc.task, wc.case),
        prediction=lambda wc, input: f"--prediction {input.prediction}" if "prediction" in input.keys() else "",
        neighbours=qa_neighbours,
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{MEDSEG} qa case --task {wildcards.task} --ingest {params.ingest} {params.prediction} "
        "--index ../index.html {params.neighbours} --out {output} > {log} 2>&1"


rule qa_index:
    input:
        pages=lambda wc: [f"{OUT}/qa/{page}" for page in qa_page_order()],
        status=f"{OUT}/report/cohort_status.tsv",
    output:
        f"{OUT}/qa/index.html",
    log:
        f"{LOGS}/qa/index.log",
    params:
        title=f"{config['study_name']}: QA case pages",
    shell:
        "{MEDSEG} qa index --pages {input.pages} --status {input.status} --study study.html "
        "--title '{params.title}' --out {output} > {log} 2>&1"


def ratings_file():
    path = config["report"].get("ratings")
    return [path] if path and Path(path).exists() else []


rule qa_study:
    input:
        summary=f"{OUT}/report/study_summary.json",
        status=f"{OUT}/report/cohort_status.tsv",
        evaluations=lambda wc: [f"{OUT}/{task}/evaluation/summary.json" for task in TASKS],
        splits=lambda wc: [f"{OUT}/{task}/splits.json" for task in TASKS],
        lv_predictions=lambda wc: (
            [f"{OUT}/predictions/lv/{LV_VARIANTS[0]}/{case.case}" for case in accepted_cases("lv")] if "lv" in TASKS else []
        ),
        ratings=ratings_file(),
    output:
        report(
            f"{OUT}/qa/study.html",
            caption="../report/study_page.rst",
            category="Study",
        ),
    log:
        f"{LOGS}/qa/study.log",
    params:
        evaluations=lambda wc, input: " ".join(str(Path(p).parent) for p in input.evaluations),
        ratings=lambda wc, input: f"--ratings {input.ratings}" if input.ratings else "",
        splits=lambda wc, input: f"--splits {input.splits}" if input.splits else "",
        areas=lambda wc, input: (
            "--areas " + " ".join(f"{folder}/areas.tsv" for folder in input.lv_predictions) if input.lv_predictions else ""
        ),
    shell:
        "{MEDSEG} qa study --summary {input.summary} --status {input.status} "
        "--evaluation {params.evaluations} {params.ratings} {params.splits} {params.areas} --config {CONFIG_FILE} "
        "--index index.html --out {output} > {log} 2>&1"
