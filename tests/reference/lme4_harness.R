# lme4 reference for the mixed-model agreement harness (tests/test_mixed_lme4_harness.py).
#
# Input: one CSV per dataset written by `python tests/lme4_harness_data.py DIR`
# (columns g, y, x0.., z0..). Each is fitted as y ~ 0 + x0 + ... + (0 + z0 + ... | g), by REML
# and by ML, with four optimisers; the fit with the highest log-likelihood is kept ("lme4's
# best optimum"), and every optimiser's log-likelihood is stored too.
#
# Run (about 15-30 min on a loaded 2-core machine):
#   python tests/lme4_harness_data.py /tmp/lme4_harness
#   nice Rscript tests/reference/lme4_harness.R /tmp/lme4_harness tests/data/lme4_harness/lme4_reference.csv
#
# Output columns (vectors joined with ";", numbers to 12 significant digits): dataset, method,
# n_rows, sum_y (checksum of the generated data), optimizer (the best), loglik, logliks (per
# optimiser, in the order of `optimisers` below; NA if it failed), beta, se, theta, sigma,
# sd (random-effect SDs), corr (upper triangle, row by row), singular (lme4::isSingular, tol 1e-4).

suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
in_dir <- args[1]
out_file <- args[2]
files <- sort(list.files(in_dir, pattern = "^d[0-9]+\\.csv$", full.names = TRUE))

checks <- list(check.nobs.vs.nRE = "ignore", check.conv.singular = "ignore", calc.derivs = FALSE)
control <- function(...) do.call(lmerControl, c(list(...), checks))
optimisers <- list(
  bobyqa = control(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)),
  Nelder_Mead = control(optimizer = "Nelder_Mead", optCtrl = list(maxfun = 1e5)),
  nlopt_bobyqa = control(optimizer = "nloptwrap", optCtrl = list(algorithm = "NLOPT_LN_BOBYQA",
                         maxeval = 1e5, xtol_abs = 1e-10, ftol_abs = 1e-12)),
  nlopt_neldermead = control(optimizer = "nloptwrap", optCtrl = list(algorithm = "NLOPT_LN_NELDERMEAD",
                             maxeval = 1e5, xtol_abs = 1e-10, ftol_abs = 1e-12))
)

num <- function(x) paste(trimws(formatC(as.numeric(x), digits = 12, format = "g")), collapse = ";")

fit_one <- function(d, form, reml) {
  fits <- lapply(optimisers, function(ctrl) {
    tryCatch(suppressWarnings(suppressMessages(lmer(form, data = d, REML = reml, control = ctrl))),
             error = function(e) NULL)
  })
  ll <- sapply(fits, function(m) if (is.null(m)) NA_real_ else as.numeric(logLik(m)))
  best <- which.max(ll)
  m <- fits[[best]]
  vc <- VarCorr(m)$g
  sds <- attr(vc, "stddev")
  cr <- attr(vc, "correlation")
  data.frame(
    method = if (reml) "REML" else "ML", optimizer = names(optimisers)[best],
    loglik = num(ll[best]), logliks = num(ll),
    beta = num(fixef(m)), se = num(sqrt(diag(as.matrix(vcov(m))))), theta = num(getME(m, "theta")),
    sigma = num(sigma(m)), sd = num(sds),
    corr = if (length(sds) > 1) num(cr[upper.tri(cr)]) else "",
    singular = isSingular(m, tol = 1e-4), stringsAsFactors = FALSE)
}

rows <- list()
for (f in files) {
  d <- read.csv(f)
  d$g <- factor(d$g)
  xs <- grep("^x", names(d), value = TRUE)
  zs <- grep("^z", names(d), value = TRUE)
  form <- as.formula(sprintf("y ~ 0 + %s + (0 + %s | g)", paste(xs, collapse = " + "),
                             paste(zs, collapse = " + ")))
  id <- as.integer(sub("^d([0-9]+)\\.csv$", "\\1", basename(f)))
  for (reml in c(TRUE, FALSE)) {
    r <- fit_one(d, form, reml)
    rows[[length(rows) + 1]] <- cbind(data.frame(dataset = id, n_rows = nrow(d),
                                                 sum_y = sprintf("%.6f", sum(d$y))), r)
  }
  cat(sprintf("%s done\n", basename(f)))
}
out <- do.call(rbind, rows)
write.csv(out, out_file, row.names = FALSE, quote = TRUE)
