workflow.include("workflow/Snakefile", overwrite_default_target=True)  # a plain include: would drop rule all as default target
