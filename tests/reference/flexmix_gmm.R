# Growth mixture reference fits with R flexmix (FLXMRlmm: a linear mixed model in each class).
#
# Model: P ~ time + time^2 with a random intercept per participant inside each class, fitted to
#   tests/data/lcga_cohort.csv  (1,500 participants, classes without within-class random effects)
#   tests/data/gmm_cohort.csv   (600 participants, random intercept SD 2 inside 4 classes;
#                                simulated by tests/trajectory_cohorts.py, seed 2026)
# for K = 1..5, with the random-intercept and residual variances either shared by the classes
# (varFix = c(Random = TRUE, Residual = TRUE)) or per class (both FALSE), keeping the best of
# NREP random starts (stepFlexmix). Output: tests/data/flexmix_gmm.csv with the log-likelihood,
# the parameter count flexmix reports, the class sizes and the seconds each K took.
#
# Run from the repository root:  nice Rscript tests/reference/flexmix_gmm.R
suppressPackageStartupMessages(library(flexmix))
NREP <- as.integer(Sys.getenv("NREP", "5"))
set.seed(20261201)
cohorts <- c(gmm = "tests/data/gmm_cohort.csv", lcga = "tests/data/lcga_cohort.csv")
rows <- list()
for (cohort in names(cohorts)) {
  data <- read.csv(cohorts[[cohort]])
  data$time2 <- data$time^2
  for (variance in c("shared", "class")) {
    fix <- variance == "shared"
    for (k in 1:5) {
      started <- proc.time()[["elapsed"]]
      fit <- tryCatch(
        stepFlexmix(P ~ time + time2 | id, data = data, k = k, nrep = NREP, verbose = FALSE,
                    model = FLXMRlmm(random = ~ 1, varFix = c(Random = fix, Residual = fix))),
        error = function(e) NULL)
      seconds <- proc.time()[["elapsed"]] - started
      if (is.null(fit)) {
        rows[[length(rows) + 1]] <- data.frame(cohort = cohort, variance = variance, K = k,
          K_fitted = NA, loglik = NA, df = NA, sizes = "", seconds = seconds)
        next
      }
      ll <- logLik(fit)
      rows[[length(rows) + 1]] <- data.frame(
        cohort = cohort, variance = variance, K = k, K_fitted = fit@k,
        loglik = as.numeric(ll), df = attr(ll, "df"),
        sizes = paste(table(clusters(fit)[!duplicated(data$id)]), collapse = "/"),
        seconds = round(seconds, 2))
      cat(cohort, variance, k, as.numeric(ll), fit@k, seconds, "\n")
    }
  }
}
out <- do.call(rbind, rows)
con <- file("tests/data/flexmix_gmm.csv", "w")
writeLines(c(
  sprintf("# flexmix %s, R %s, FLXMRlmm random intercept, P ~ time + time^2 | id, nrep = %d",
          packageVersion("flexmix"), getRversion(), NREP),
  "# made by tests/reference/flexmix_gmm.R; K_fitted < K when flexmix dropped empty classes"), con)
write.csv(out, con, row.names = FALSE)
close(con)
