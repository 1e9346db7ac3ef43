#!/usr/bin/env Rscript
# Independent R reference for srflow's mixed models on variables of the variable grammar
# (sr_z:<spec>, z(), within(), between(), lag(), interactions; src/srflow/mixed with
# src/srflow/variables). tests/test_mixed_variables.py compares srflow with the outputs, which
# are committed because CI has no R.
#
# Usage (from the repository root, after `python tests/reference/mixed_variables_data.py`):
#   Rscript tests/reference/mixed_variables.R tests/data/mixed_variables
#
# Input (<dir>): long.csv (participant_id, wave, P, E, GSE), sr_observation.csv
#                (participant_id, wave, sr, sr_z of the multilevel SR spec observation).
# Output (<dir>): <model>__fixed.csv  term (as srflow names it), estimate, se, df, t, p
#                                     (lmerTest, Satterthwaite)
#                 <model>__fit.csv    n_obs, n_groups, loglik (REML criterion for REML fits),
#                                     sigma, sd_<random term>
#                 r_session.txt       R and package versions
#
# The variables are built here without srflow, as srflow defines them: lag(E) is E at the
# participant's wave number minus one (NA when that wave is absent); the model's rows are those
# complete on every variable of the model; then scale() (z), the participant mean (between)
# and x minus it (within) are computed over those rows. Note that scale() written inside an
# lmer formula on data with missing values would standardise over each variable's own
# non-missing rows instead; filtering to complete cases first is what makes the two agree.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else file.path("tests", "data", "mixed_variables")

long <- read.csv(file.path(dir, "long.csv"), colClasses = c(participant_id = "character"))
srt <- read.csv(file.path(dir, "sr_observation.csv"),
                colClasses = c(participant_id = "character"))
names(srt)[names(srt) == "sr_z"] <- "sr_z_observation"
long <- merge(long, srt[c("participant_id", "wave", "sr_z_observation")],
              by = c("participant_id", "wave"), all.x = TRUE, sort = TRUE)
previous <- data.frame(participant_id = long$participant_id, wave = long$wave + 1,
                       lag_E = long$E)
long <- merge(long, previous, by = c("participant_id", "wave"), all.x = TRUE, sort = TRUE)

complete_rows <- function(d, vars) d[complete.cases(d[vars]), , drop = FALSE]
z <- function(x) as.numeric(scale(x))
between <- function(x, id) ave(x, id, FUN = mean)
within <- function(x, id) x - ave(x, id, FUN = mean)

fit_and_write <- function(name, formula, d, terms, random_terms, reml) {
  m <- lmer(formula, data = d, REML = reml,
            control = lmerControl(optimizer = "bobyqa",
                                  optCtrl = list(maxfun = 1e5)))
  co <- summary(m)$coefficients
  fixed <- data.frame(term = terms, estimate = co[, "Estimate"], se = co[, "Std. Error"],
                      df = co[, "df"], t = co[, "t value"], p = co[, "Pr(>|t|)"])
  write.csv(fixed, file.path(dir, paste0(name, "__fixed.csv")), row.names = FALSE)
  vc <- as.data.frame(VarCorr(m))
  sds <- vc[vc$grp == "id" & is.na(vc$var2), "sdcor"]
  fit <- data.frame(n_obs = nobs(m), n_groups = ngrps(m)[["id"]],
                    loglik = as.numeric(logLik(m)), sigma = sigma(m))
  for (j in seq_along(random_terms)) fit[[paste0("sd_", random_terms[j])]] <- sds[j]
  write.csv(fit, file.path(dir, paste0(name, "__fit.csv")), row.names = FALSE)
}

# 1. The authors' model: lmer(scale(P) ~ scale(E) + (1 + scale(E) | id)), REML.
d <- complete_rows(long, c("P", "E"))
d$id <- d$participant_id
d$zP <- z(d$P)
d$zE <- z(d$E)
fit_and_write("authors", zP ~ zE + (1 + zE | id), d, c("Intercept", "z(E)"),
              c("Intercept", "z(E)"), TRUE)

# 2. Observation SR z-scores on within/between of a time-varying covariate and lag(E), REML.
d <- complete_rows(long, c("sr_z_observation", "GSE", "lag_E"))
d$id <- d$participant_id
d$wGSE <- within(d$GSE, d$id)
d$bGSE <- between(d$GSE, d$id)
fit_and_write("sr_within_between",
              sr_z_observation ~ wGSE + bGSE + lag_E + (1 + wGSE | id), d,
              c("Intercept", "within(GSE)", "between(GSE)", "lag(E)"),
              c("Intercept", "within(GSE)"), TRUE)

# 3. A moderation model by ML: z(P) on z(E), within(GSE) and their product.
d <- complete_rows(long, c("P", "E", "GSE"))
d$id <- d$participant_id
d$zP <- z(d$P)
d$zE <- z(d$E)
d$wGSE <- within(d$GSE, d$id)
fit_and_write("moderation_ml", zP ~ zE + wGSE + zE:wGSE + (1 + zE | id), d,
              c("Intercept", "z(E)", "within(GSE)", "z(E):within(GSE)"),
              c("Intercept", "z(E)"), FALSE)

writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")),
             paste("lmerTest", packageVersion("lmerTest"))),
           file.path(dir, "r_session.txt"))
