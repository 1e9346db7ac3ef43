# Growth mixture reference fits with R flexmix (FLXMRlmm: a linear mixed model in each class).
#
# Model: P ~ time + time^2 with a random intercept per participant inside each class, fitted to
#   tests/data/gmm_cohort.csv   (600 participants, random intercept SD 2 inside 4 classes;
#                                simulated by tests/trajectory_cohorts.py, seed 2026)
#   tests/data/lcga_cohort.csv  (1,500 participants, classes without within-class random effects)
# for K = 1..KMAX, with the random-intercept and residual variances shared by the classes
# (varFix = c(Random = TRUE, Residual = TRUE)) or per class (VARIANCE=class: both FALSE),
# keeping the best of NREP random starts (a start that errors, e.g. when a class empties, is
# skipped). Output: tests/data/flexmix_gmm_<cohort>_<variance>.csv with the log-likelihood, the
# parameter count flexmix reports, the class sizes and the seconds each K took.
#
# Run from the repository root (FLXMRlmm takes minutes per start):
#   COHORT=gmm VARIANCE=shared NREP=1 KMAX=5 nice Rscript tests/reference/flexmix_gmm.R
suppressPackageStartupMessages(library(flexmix))
cohort <- Sys.getenv("COHORT", "gmm")
variance <- Sys.getenv("VARIANCE", "shared")
NREP <- as.integer(Sys.getenv("NREP", "1"))
KMAX <- as.integer(Sys.getenv("KMAX", "5"))
set.seed(20261201)
data <- read.csv(sprintf("tests/data/%s_cohort.csv", cohort))
data$time2 <- data$time^2
fix <- variance == "shared"
model <- FLXMRlmm(random = ~ 1, varFix = c(Random = fix, Residual = fix))
out <- file(sprintf("tests/data/flexmix_gmm_%s_%s.csv", cohort, variance), "w")
writeLines(c(
  sprintf("# flexmix %s, R %s, FLXMRlmm random intercept, P ~ time + time^2 | id, %s variances, best of %d start(s)",
          packageVersion("flexmix"), getRversion(), variance, NREP),
  "# made by tests/reference/flexmix_gmm.R; K_fitted < K when flexmix dropped an empty class",
  "K,K_fitted,loglik,df,sizes,seconds"), out)
flush(out)
for (k in 1:KMAX) {
  best <- NULL
  started <- proc.time()[["elapsed"]]
  for (rep in seq_len(NREP)) {
    fit <- tryCatch(flexmix(P ~ time + time2 | id, data = data, k = k, model = model),
                    error = function(e) NULL)
    if (!is.null(fit) && (is.null(best) || logLik(fit) > logLik(best))) best <- fit
  }
  seconds <- round(proc.time()[["elapsed"]] - started, 1)
  if (is.null(best)) {
    writeLines(sprintf("%d,NA,NA,NA,,%.1f", k, seconds), out)
  } else {
    ll <- logLik(best)
    sizes <- paste(table(clusters(best)[!duplicated(data$id)]), collapse = "/")
    writeLines(sprintf("%d,%d,%.6f,%d,%s,%.1f", k, best@k, as.numeric(ll), attr(ll, "df"), sizes, seconds), out)
  }
  flush(out)
}
close(out)
