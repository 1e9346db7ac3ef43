workflow.include("workflow/Snakefile", overwrite_default_target=True)
