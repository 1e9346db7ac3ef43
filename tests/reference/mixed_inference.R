# Reference values for srflow's mixed-model inference (tests/test_mixed_inference.py):
# Satterthwaite (lmerTest) and Kenward-Roger (pbkrtest via lmerTest) df and tests, Type III
# anova, Nakagawa R2 (performance) and profile-likelihood intervals (lme4 confint).
#
# Run from the repository root:  Rscript tests/reference/mixed_inference.R
# Writes tests/data/mixed_inference/{sim*.csv, cases.csv, fixed.csv, anova.csv, r2.csv,
# profile.csv, fit.csv, r_session.txt}. The simulated cohorts are made here (set.seed) so
# that the data and the references come from one script.
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(performance)
})
out <- "tests/data/mixed_inference"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

# A cohort as real ones look: 15-40 participants, 3-8 unbalanced waves, E a stressor sum
# (0-100, uncentred), RF a baseline trait (-4..4, constant within person), age 18-90, a
# 3-5 level site factor, random intercept and E slope.
simulate <- function(seed, n_part, n_levels, slope_sd = 0.12) {
  set.seed(seed)
  rows <- list()
  sites <- LETTERS[seq_len(n_levels)]
  for (i in seq_len(n_part)) {
    waves <- sort(sample(1:8, sample(3:8, 1)))
    rf <- round(runif(1, -4, 4), 2)
    age <- sample(18:90, 1)
    site <- sites[(i %% n_levels) + 1]
    b0 <- rnorm(1, 0, 3); b1 <- rnorm(1, 0, slope_sd)
    e <- round(pmin(100, pmax(0, rnorm(length(waves), 40 + 5 * rf, 20))))
    site_eff <- c(A = 0, B = 1.5, C = -1, D = 2, E = 0.5)[site]
    p <- 8 + 0.12 * e + 0.7 * rf + 0.02 * e * rf + 0.03 * age + site_eff + b0 + b1 * e +
      rnorm(length(waves), 0, 3)
    rows[[i]] <- data.frame(participant_id = sprintf("p%03d", i), wave = waves, E = e,
                            RF = rf, age = age, site = site, P = round(p, 3))
  }
  do.call(rbind, rows)
}

sleep <- read.csv("tests/data/sleepstudy.csv", colClasses = c(Subject = "character"))
datasets <- list(
  sleep = sleep,
  # a 3-level arm by participant, crossed with Days (as tests/test_mixed.py builds it)
  sleep_arm = transform(sleep, arm = c("control", "b_arm", "a_arm")[as.integer(Subject) %% 3 + 1]),
  sim1 = simulate(101, 15, 3),
  sim2 = simulate(202, 24, 4),
  sim3 = simulate(505, 40, 5),
  sim4 = simulate(404, 30, 3, slope_sd = 0.2)
)
for (nm in grep("^sim", names(datasets), value = TRUE)) write.csv(datasets[[nm]], file.path(out, paste0(nm, ".csv")), row.names = FALSE)

# case, data, outcome, fixed terms, random slopes, method, group, reference level of site.
cases <- data.frame(
  case = c("sleep_reml", "sleep_ml", "sleep_arm", "sim1_slope", "sim2_factor", "sim2_ref", "sim3_inter",
           "sim4_ml", "sim1_intercept"),
  data = c("sleep", "sleep", "sleep_arm", "sim1", "sim2", "sim2", "sim3", "sim4", "sim1"),
  outcome = c("Reaction", "Reaction", "Reaction", "P", "P", "P", "P", "P", "P"),
  fixed = c("Days", "Days", "Days;arm;Days:arm", "E;RF;E:RF", "E;RF;E:RF;site", "E;age;site",
            "E;RF;E:RF;site;E:site;age", "E;RF;E:RF;site", "E;wave;age"),
  random = c("Days", "Days", "Days", "E", "E", "E", "E", "E", ""),
  method = c("reml", "ml", "reml", "reml", "reml", "reml", "reml", "ml", "reml"),
  group = c("Subject", "Subject", "Subject", rep("participant_id", 6)),
  # treatment-coding reference as column=level ("" = first level in sorted order)
  reference = c("", "", "", "", "", "site=C", "", "", ""),
  stringsAsFactors = FALSE
)
write.csv(cases, file.path(out, "cases.csv"), row.names = FALSE)

tables <- list(fixed = list(), anova = list(), r2 = list(), profile = list(), fit = list())
for (k in seq_len(nrow(cases))) {
  cs <- cases[k, ]
  d <- datasets[[cs$data]]
  for (column in intersect(c("site", "arm"), names(d))) d[[column]] <- factor(d[[column]])
  if (cs$reference != "") {
    ref <- strsplit(cs$reference, "=")[[1]]
    d[[ref[1]]] <- relevel(d[[ref[1]]], ref = ref[2])
  }
  fixed <- strsplit(cs$fixed, ";")[[1]]
  random <- if (cs$random == "") "1" else paste("1 +", gsub(";", " + ", cs$random))
  form <- as.formula(sprintf("%s ~ %s + (%s | %s)", cs$outcome, paste(fixed, collapse = " + "),
                             random, cs$group))
  m <- lmerTest::lmer(form, data = d, REML = cs$method == "reml",
                      control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  ddfs <- if (cs$method == "reml") c("Satterthwaite", "Kenward-Roger") else "Satterthwaite"
  for (ddf in ddfs) {
    co <- summary(m, ddf = ddf)$coefficients
    tables$fixed[[length(tables$fixed) + 1]] <- data.frame(
      case = cs$case, ddf = ddf, position = seq_len(nrow(co)) - 1, term = rownames(co),
      estimate = co[, 1], se = co[, 2], df = co[, 3], t = co[, 4], p = co[, 5])
    a <- anova(m, type = 3, ddf = ddf)
    tables$anova[[length(tables$anova) + 1]] <- data.frame(
      case = cs$case, ddf = ddf, term = rownames(a), num_df = a$NumDF, den_df = a$DenDF,
      F = a[["F value"]], p = a[["Pr(>F)"]])
  }
  r2 <- performance::r2_nakagawa(m)
  tables$r2[[length(tables$r2) + 1]] <- data.frame(
    case = cs$case, r2_marginal = unname(r2$R2_marginal), r2_conditional = unname(r2$R2_conditional))
  ci <- confint(m, parm = "theta_", method = "profile", oldNames = FALSE)
  tables$profile[[length(tables$profile) + 1]] <- data.frame(
    case = cs$case, parameter = rownames(ci), low = ci[, 1], high = ci[, 2])
  tables$fit[[length(tables$fit) + 1]] <- data.frame(case = cs$case, loglik = as.numeric(logLik(m)),
                                                     ml_loglik = as.numeric(logLik(refitML(m))))
}
for (nm in names(tables)) {
  write.csv(do.call(rbind, tables[[nm]]), file.path(out, paste0(nm, ".csv")), row.names = FALSE)
}
writeLines(c(R.version.string, sprintf("lme4 %s", packageVersion("lme4")),
             sprintf("lmerTest %s", packageVersion("lmerTest")),
             sprintf("pbkrtest %s", packageVersion("pbkrtest")),
             sprintf("performance %s", packageVersion("performance")),
             sprintf("Matrix %s", packageVersion("Matrix"))),
           file.path(out, "r_session.txt"))
