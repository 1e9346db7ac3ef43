# Site effects (conditional modes) and their conditional SDs for the nested_in references:
# the datasets of tests/reference/mixed_nested.R (tests/data/mixed_nested/nest*.csv), REML,
# P ~ E + wave + arm + (1 | site) + (1 + E | participant_id), bobyqa.
# Run from the repository root:
#   nice Rscript tests/reference/mixed_nested_sites.R tests/data/mixed_nested
suppressPackageStartupMessages(library(lme4))
out <- commandArgs(trailingOnly = TRUE)[1]
rows <- list()
for (nm in c("nest1", "nest2")) {
  d <- read.csv(file.path(out, paste0(nm, ".csv")))
  m <- lmer(P ~ E + wave + arm + (1 | site) + (1 + E | participant_id), data = d, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  re <- ranef(m, condVar = TRUE)$site
  sd <- sqrt(as.vector(attr(re, "postVar")))
  rows[[nm]] <- data.frame(dataset = nm, level = rownames(re), estimate = re[, 1], sd = sd,
                           loglik = as.numeric(logLik(m)))
}
write.csv(do.call(rbind, rows), file.path(out, "site_effects.csv"), row.names = FALSE)
