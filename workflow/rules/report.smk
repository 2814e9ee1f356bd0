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
    output:
        f"{OUT}/report/study_summary.json",
    log:
        f"{LOGS}/report/study_summary.log",
    shell:
        "{MEDSEG} report summary --config {CONFIG_FILE} --status {input.status} "
        "--summaries {input.summaries} --out {output} > {log} 2>&1"


def study_targets(wildcards):
    return ears_targets() + lv_targets() + [f"{OUT}/report/study_summary.json"]
