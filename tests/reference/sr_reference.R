#!/usr/bin/env Rscript
# Independent R implementation of srflow's stressor-reactivity (SR) definitions
# (DESIGN.md section 5), used to make the reference CSVs that
# tests/test_sr_reference.py compares srflow against. CI has no R: the outputs are
# committed; see tests/reference/README.md for how and with which versions they were made.
#
# Usage (from the repository root):
#   Rscript tests/reference/sr_reference.R tests/data/sr_reference
#
# Input:  <dir>/<cohort>_scores.csv with columns participant_id, wave, P, E, arm
#         (one row per participant and wave; P or E may be missing, NA).
# Output: <dir>/<cohort>__<definition>.csv   participant_id, key columns, sr, sr_z
#         <dir>/<cohort>__coefficients.csv   definition, line, term, estimate
#         <dir>/r_session.txt                R and package versions
#
# Conventions, shared with srflow (src/srflow/sr.py) on purpose:
#   * sr = P - P_expected: higher = more problems than expected = less resilient.
#   * A unit is scored only when every value it needs is observed.
#   * sr_z = (sr - mean(sr)) / sd(sr) over ALL scored units of a definition, with
#     sd() using n - 1; for definitions with several lines (one per wave or window)
#     the z-score is pooled over the lines (srflow's standardize: pooled). Those
#     definitions also get sr_z_line, the same z-score computed within each line
#     (each wave, each window: srflow's standardize: line, the default).
#   * Lines are fitted with base R lm() (QR decomposition) and lme4::lmer(); nothing is
#     centred or rescaled by hand, so the numbers do not share srflow's arithmetic.

suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) >= 1) args[1] else file.path("tests", "data", "sr_reference")
cohorts <- if (length(args) >= 2) args[-1] else c("synthetic", "r_export", "synthetic_gaps")

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------

read_scores <- function(path) {
  d <- read.csv(path, colClasses = c(participant_id = "character", wave = "integer",
                                     P = "numeric", E = "numeric", arm = "character"))
  # Radix ordering = byte order, independent of the locale's collation.
  d[order(d$participant_id, d$wave, method = "radix"), , drop = FALSE]
}

zscore <- function(x) (x - mean(x)) / sd(x)       # sd(): denominator n - 1
zscore_within <- function(x, line) ave(x, line, FUN = zscore)

observed <- function(d) d[!is.na(d$P) & !is.na(d$E), , drop = FALSE]

# Per-participant means of P and E over the given rows (all of them observed) and the
# number of rows averaged.
person_means <- function(rows) {
  id <- factor(rows$participant_id, levels = sort(unique(rows$participant_id), method = "radix"))
  data.frame(participant_id = levels(id),
             P = as.numeric(tapply(rows$P, id, mean)),
             E = as.numeric(tapply(rows$E, id, mean)),
             n_waves = as.integer(tapply(rows$P, id, length)),
             stringsAsFactors = FALSE)
}

# lm() names -> srflow's term names.
term_name <- function(x) {
  x[x == "(Intercept)"] <- "Intercept"
  x[x == "I(E^2)"] <- "E^2"
  x
}

coef_rows <- function(definition, line, fit) {
  b <- coef(fit)
  data.frame(definition = definition, line = as.character(line), term = term_name(names(b)),
             estimate = unname(b), stringsAsFactors = FALSE)
}

fmt <- function(x) sprintf("%.17g", x)             # round-trips every double exactly

write_units <- function(units, cohort, definition) {
  out <- units
  for (col in intersect(c("sr", "sr_z", "sr_z_line"), names(out))) out[[col]] <- fmt(out[[col]])
  write.csv(out, file.path(out_dir, sprintf("%s__%s.csv", cohort, definition)),
            row.names = FALSE, quote = FALSE)
}

# ---------------------------------------------------------------------------------------
# Definitions. Each returns list(units = data.frame(participant_id, <keys>, sr, sr_z),
#                                coefs = data.frame(definition, line, term, estimate)).
# ---------------------------------------------------------------------------------------

# wave: one OLS line P ~ E per wave, fitted on that wave's observed rows; SR per
# (participant, wave) = residual from its own wave's line; z pooled over all waves
# (sr_z) and within each wave (sr_z_line).
sr_wave <- function(d, definition) {
  ok <- observed(d)
  units <- list(); coefs <- list()
  for (w in sort(unique(ok$wave))) {
    sub <- ok[ok$wave == w, ]
    fit <- lm(P ~ E, data = sub)
    units[[length(units) + 1]] <- data.frame(participant_id = sub$participant_id, wave = w,
                                             sr = sub$P - unname(predict(fit, newdata = sub)))
    coefs[[length(coefs) + 1]] <- coef_rows(definition, w, fit)
  }
  units <- do.call(rbind, units)
  units <- units[order(units$participant_id, units$wave, method = "radix"), ]
  units$sr_z <- zscore(units$sr)
  units$sr_z_line <- zscore_within(units$sr, units$wave)
  list(units = units, coefs = do.call(rbind, coefs))
}

# period: per participant the mean P and mean E over the waves at which both are
# observed; participants with at least `min_waves` such waves are scored. One line over
# participants (one row per person).
#   form      "linear" P ~ E, or "quadratic" P ~ E + E^2 (raw E; lm's QR copes).
#   outliers  "none", or "winsorize": P and E of the FITTING persons are clipped at
#             mean +/- k * sd (sd with n - 1, computed on that fitting sample), the line
#             is fitted to the clipped values and then applied to everyone's UNCLIPPED
#             means, so nobody's score is censored.
#   reference NULL (everyone defines the line) or an arm value: a participant defines
#             the line when at least one of their rows has that arm; the line is applied
#             to everyone scored, and sr_z is still over everyone scored.
sr_period <- function(d, definition, min_waves = 1, form = "linear", outliers = "none",
                      k = 3, reference_arm = NULL) {
  means <- person_means(observed(d))
  units <- means[means$n_waves >= min_waves, ]
  fitting <- rep(TRUE, nrow(units))
  if (!is.null(reference_arm)) {
    fitting <- units$participant_id %in% unique(d$participant_id[d$arm == reference_arm])
  }
  train <- units[fitting, c("P", "E")]
  if (outliers == "winsorize") {
    for (v in c("P", "E")) {
      bound <- mean(train[[v]]) + c(-1, 1) * k * sd(train[[v]])
      train[[v]] <- pmin(pmax(train[[v]], bound[1]), bound[2])
    }
  }
  fit <- if (form == "quadratic") lm(P ~ E + I(E^2), data = train) else lm(P ~ E, data = train)
  sr <- units$P - unname(predict(fit, newdata = units))
  list(units = data.frame(participant_id = units$participant_id, sr = sr, sr_z = zscore(sr)),
       coefs = coef_rows(definition, "all", fit))
}

# multilevel: linear mixed model P ~ E + (1 + E | participant_id) by REML on every
# observed row; expected P is the fixed-effects prediction X %*% fixef (no random
# effects), SR per observation. Besides the fixed effects, the coefficients file gets
# the parameters that do not depend on where E is centred (sigma, SD of the random E
# slope, REML log-likelihood) and the random-intercept SD at the mean E of the
# fitting rows (srflow's centring point), all derived here from lme4's VarCorr.
sr_multilevel <- function(d, definition) {
  ok <- observed(d)
  fit <- lmer(P ~ E + (1 + E | participant_id), data = ok, REML = TRUE, control = lmer_control)
  X <- cbind(1, ok$E)
  sr <- ok$P - drop(X %*% fixef(fit))
  vc <- VarCorr(fit)$participant_id               # 2 x 2 covariance of (intercept, slope)
  c0 <- mean(ok$E)
  sd_int_at_mean <- sqrt(vc[1, 1] + 2 * c0 * vc[1, 2] + c0^2 * vc[2, 2])
  extra <- data.frame(definition = definition, line = "all",
                      term = c("sigma", "sd_re_E", "sd_re_Intercept_at_mean_E", "loglik_reml"),
                      estimate = c(sigma(fit), sqrt(vc[2, 2]), sd_int_at_mean, as.numeric(logLik(fit))),
                      stringsAsFactors = FALSE)
  b <- fixef(fit)
  coefs <- rbind(data.frame(definition = definition, line = "all", term = term_name(names(b)),
                            estimate = unname(b), stringsAsFactors = FALSE), extra)
  msgs <- fit@optinfo$conv$lme4$messages
  if (length(msgs)) stop("lmer did not converge cleanly: ", paste(msgs, collapse = "; "))
  list(units = data.frame(participant_id = ok$participant_id, wave = ok$wave, sr = sr, sr_z = zscore(sr)),
       coefs = coefs)
}

# Tight optimiser tolerances so the reference optimum is well inside 1e-6 of the true
# REML optimum (lme4's defaults stop near 1e-8 absolute on the criterion).
lmer_control <- lmerControl(optimizer = "bobyqa",
                            optCtrl = list(rhobeg = 2e-3, rhoend = 1e-12, maxfun = 1e5))

# sliding: windows of `window` consecutive waves, starting at the first wave present in
# the data (any row) and shifted by one until the window's last wave is the last wave
# present. In each window a participant's means of P and E over the window's waves with
# both observed; participants with >= min_in_window such waves are scored. One OLS line
# per window, named by its first wave; z pooled over all windows (sr_z) and within each
# window (sr_z_line).
sr_sliding <- function(d, definition, window = 3, min_in_window = 1) {
  ok <- observed(d)
  starts <- seq.int(min(d$wave), max(d$wave) - window + 1)
  units <- list(); coefs <- list()
  for (s in starts) {
    rows <- ok[ok$wave >= s & ok$wave <= s + window - 1, ]
    if (nrow(rows) == 0) next
    means <- person_means(rows)
    means <- means[means$n_waves >= min_in_window, ]
    fit <- lm(P ~ E, data = means)
    units[[length(units) + 1]] <- data.frame(participant_id = means$participant_id, window = s,
                                             sr = means$P - unname(predict(fit, newdata = means)))
    coefs[[length(coefs) + 1]] <- coef_rows(definition, s, fit)
  }
  units <- do.call(rbind, units)
  units <- units[order(units$participant_id, units$window, method = "radix"), ]
  units$sr_z <- zscore(units$sr)
  units$sr_z_line <- zscore_within(units$sr, units$window)
  list(units = units, coefs = do.call(rbind, coefs))
}

# change: intervals between waves t-1 and t of the same participant (wave numbers exactly
# one apart; a missing wave breaks the chain) with P at both ends and E at the end.
# dP = P_t - P_(t-1) is regressed on E_t (the exposure reported at the end of the
# interval), optionally with P_(t-1) as a covariate. SR per interval = the OLS residual
# (= P_t - (P_(t-1) + expected change)); reported at the end wave t.
sr_change <- function(d, definition, adjust_previous = FALSE) {
  prev <- data.frame(participant_id = d$participant_id, wave = d$wave + 1L, P_prev = d$P,
                     stringsAsFactors = FALSE)
  iv <- merge(d, prev, by = c("participant_id", "wave"))        # inner join: t-1 must exist
  iv <- iv[!is.na(iv$P) & !is.na(iv$P_prev) & !is.na(iv$E), ]
  iv <- iv[order(iv$participant_id, iv$wave, method = "radix"), ]
  iv$dP <- iv$P - iv$P_prev
  fit <- if (adjust_previous) lm(dP ~ E + P_prev, data = iv) else lm(dP ~ E, data = iv)
  sr <- unname(residuals(fit))
  coefs <- coef_rows(definition, "all", fit)
  coefs$term[coefs$term == "P_prev"] <- "P_previous"
  list(units = data.frame(participant_id = iv$participant_id, wave_from = iv$wave - 1L, wave = iv$wave,
                          sr = sr, sr_z = zscore(sr)),
       coefs = coefs)
}

# The definitions, with the srflow spec each one mirrors (the test holds the same list).
definitions <- list(
  wave                   = function(d, n) sr_wave(d, n),
  period                 = function(d, n) sr_period(d, n, min_waves = 3),
  period_quadratic       = function(d, n) sr_period(d, n, min_waves = 1, form = "quadratic"),
  period_winsorize       = function(d, n) sr_period(d, n, min_waves = 3, outliers = "winsorize", k = 3),
  period_reference_arm   = function(d, n) sr_period(d, n, min_waves = 3, reference_arm = "control"),
  multilevel             = function(d, n) sr_multilevel(d, n),
  sliding                = function(d, n) sr_sliding(d, n, window = 3, min_in_window = 1),
  change                 = function(d, n) sr_change(d, n, adjust_previous = FALSE),
  change_adjust_previous = function(d, n) sr_change(d, n, adjust_previous = TRUE)
)

# ---------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------

for (cohort in cohorts) {
  d <- read_scores(file.path(out_dir, sprintf("%s_scores.csv", cohort)))
  all_coefs <- list()
  for (name in names(definitions)) {
    res <- definitions[[name]](d, name)
    write_units(res$units, cohort, name)
    all_coefs[[name]] <- res$coefs
    cat(sprintf("%-15s %-24s %5d units\n", cohort, name, nrow(res$units)))
  }
  coefs <- do.call(rbind, all_coefs)
  coefs$estimate <- fmt(coefs$estimate)
  write.csv(coefs, file.path(out_dir, sprintf("%s__coefficients.csv", cohort)), row.names = FALSE,
            quote = FALSE)
}

writeLines(c(R.version.string,
             paste("lme4", as.character(packageVersion("lme4"))),
             paste("Matrix", as.character(packageVersion("Matrix"))),
             paste("minqa", as.character(packageVersion("minqa"))),
             paste("lmer optimizer: bobyqa, rhobeg 2e-3, rhoend 1e-12, maxfun 1e5")),
           file.path(out_dir, "r_session.txt"))
