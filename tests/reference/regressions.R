#!/usr/bin/env Rscript
# Independent R reference for srflow's person-level regressions (the config block
# `regressions`; src/srflow/regression). tests/test_regressions.py compares srflow with the
# outputs, which are committed because CI has no R.
#
# Usage (from the repository root, after `python tests/reference/regressions_data.py`):
#   Rscript tests/reference/regressions.R tests/data/regressions
#
# Input (<dir>): bundled_long.csv, bundled_sr_person.csv, bundled_sr_per_wave.csv,
#                messy_long.csv, messy_sr_period.csv (see regressions_data.py).
# Output (<dir>): models.csv                  one row per model: the srflow spec it checks
#                 <model>__coefficients.csv   term (R's name), estimate, se, df, statistic,
#                                             p, ci_low, ci_high, std_estimate
#                 <model>__fit.csv            n_participants, n_obs, r2, adj_r2, f, f_df1,
#                                             f_df2, f_p, aic, bic, loglik, sigma
#                 r_session.txt               R version
#
# Everything is done here without srflow: the per-participant values (first = the value at
# the lowest wave that has one, per variable; mean = mean over the waves that have one; a
# category and a period SR score always as they are / first), the complete-case filter on
# the model's variables, scale() after that filter, lm(), and HC3 by hand (the sandwich
# package is not installed): V = (X'X)^-1 X' diag(e^2 / (1 - h)^2) X (X'X)^-1, t tests on
# the residual df, overall F = Wald(slopes, V) / q on (q, n - p) df. AIC() and BIC() are R's
# own for lm (residual variance counted as a parameter).

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else file.path("tests", "data", "regressions")

read_long <- function(name) {
  d <- read.csv(file.path(dir, name), colClasses = c(participant_id = "character"),
                na.strings = "")
  d[order(d$participant_id, d$wave, method = "radix"), , drop = FALSE]
}

first_value <- function(x) {
  x <- x[!is.na(x)]
  if (length(x)) x[1] else x[NA_integer_][1]
}

mean_value <- function(x) {
  if (all(is.na(x))) NA_real_ else mean(x, na.rm = TRUE)
}

# One row per participant (sorted by byte order): `numeric` aggregated by `how`,
# `categories` by their first value; then period SR tables merged as they are.
person_level <- function(long, numeric, categories, how, period = list()) {
  ids <- sort(unique(long$participant_id), method = "radix")
  out <- data.frame(participant_id = ids, stringsAsFactors = FALSE)
  f <- factor(long$participant_id, levels = ids)
  agg <- if (how == "first") first_value else mean_value
  for (v in numeric) out[[v]] <- as.numeric(tapply(long[[v]], f, agg))
  for (v in categories) out[[v]] <- as.character(tapply(long[[v]], f, first_value))
  for (v in names(period)) {
    tab <- period[[v]]
    out[[v]] <- tab$value[match(out$participant_id, tab$participant_id)]
  }
  out
}

hc3 <- function(m) {
  X <- model.matrix(m)
  e <- residuals(m)
  h <- hatvalues(m)
  bread <- solve(crossprod(X))
  meat <- crossprod(X * (e / (1 - h)))
  bread %*% meat %*% bread
}

fit_one <- function(name, d, formula, se, vars, z_vars = character()) {
  n_participants <- nrow(d)
  d <- d[complete.cases(d[, vars]), , drop = FALSE]
  for (v in z_vars) d[[paste0("z_", v)]] <- as.numeric(scale(d[[v]]))
  for (v in vars) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]])
  m <- lm(formula, data = d)
  X <- model.matrix(m)
  b <- coef(m)
  V <- if (se == "hc3") hc3(m) else vcov(m)
  s <- sqrt(diag(V))
  dfr <- df.residual(m)
  t <- b / s
  crit <- qt(0.975, dfr)
  y <- model.response(model.frame(m))
  sdx <- apply(X, 2, sd)
  std <- b * sdx / sd(y)
  std[1] <- NA
  coefs <- data.frame(term = names(b), estimate = b, se = s, df = dfr, statistic = t,
                      p = 2 * pt(abs(t), dfr, lower.tail = FALSE), ci_low = b - crit * s,
                      ci_high = b + crit * s, std_estimate = std)
  q <- length(b) - 1
  if (se == "hc3") {
    slopes <- b[-1]
    f <- as.numeric(t(slopes) %*% solve(V[-1, -1, drop = FALSE], slopes)) / q
  } else {
    f <- unname(summary(m)$fstatistic["value"])
  }
  fit <- data.frame(n_participants = n_participants, n_obs = nobs(m),
                    r2 = summary(m)$r.squared, adj_r2 = summary(m)$adj.r.squared,
                    f = f, f_df1 = q, f_df2 = dfr, f_p = pf(f, q, dfr, lower.tail = FALSE),
                    aic = AIC(m), bic = BIC(m), loglik = as.numeric(logLik(m)),
                    sigma = summary(m)$sigma)
  fmt <- function(df, path) write.csv(format(df, digits = 17), path, row.names = FALSE,
                                      quote = FALSE)
  fmt(coefs, file.path(dir, paste0(name, "__coefficients.csv")))
  fmt(fit, file.path(dir, paste0(name, "__fit.csv")))
}

period_table <- function(name, column) {
  t <- read.csv(file.path(dir, name), colClasses = c(participant_id = "character"))
  data.frame(participant_id = t$participant_id, value = t[[column]])
}

# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------

bundled <- read_long("bundled_long.csv")
per_wave <- read.csv(file.path(dir, "bundled_sr_per_wave.csv"),
                     colClasses = c(participant_id = "character"))
key <- paste(bundled$participant_id, bundled$wave)
bundled$sr_per_wave <- per_wave$sr[match(key, paste(per_wave$participant_id, per_wave$wave))]
person_sr <- list(sr_z_person = period_table("bundled_sr_person.csv", "sr_z"))

messy <- read_long("messy_long.csv")
messy_sr <- list(sr_period = period_table("messy_sr_period.csv", "sr"))

# ---------------------------------------------------------------------------------------
# Models: name, srflow spec (outcome; predictors separated by ';'), and the R fit
# ---------------------------------------------------------------------------------------

models <- data.frame(
  name = c("bundled_first", "bundled_first_hc3", "bundled_mean_hc3",
           "messy_first", "messy_first_hc3", "messy_mean_hc3"),
  data = c("bundled", "bundled", "bundled", "messy", "messy", "messy"),
  outcome = c("sr_z:person", "sr_z:person", "sr:per_wave", "y", "y", "sr:period"),
  predictors = c("z(age);gender;arm", "z(age);gender;arm", "age;E;arm",
                 "x1;z(x2);grp;x1:z(x2)", "x1;z(x2);grp;x1:z(x2)",
                 "x1;x1^2;grp;z(x2);z(x2):grp"),
  aggregate = c("first", "first", "mean", "first", "first", "mean"),
  se = c("classical", "hc3", "hc3", "classical", "hc3", "hc3")
)
write.csv(models, file.path(dir, "models.csv"), row.names = FALSE, quote = FALSE)

d <- person_level(bundled, c("age"), c("gender", "arm"), "first", person_sr)
fit_one("bundled_first", d, sr_z_person ~ z_age + gender + arm, "classical",
        c("sr_z_person", "age", "gender", "arm"), "age")
fit_one("bundled_first_hc3", d, sr_z_person ~ z_age + gender + arm, "hc3",
        c("sr_z_person", "age", "gender", "arm"), "age")
d <- person_level(bundled, c("sr_per_wave", "age", "E"), c("arm"), "mean")
fit_one("bundled_mean_hc3", d, sr_per_wave ~ age + E + arm, "hc3",
        c("sr_per_wave", "age", "E", "arm"))

d <- person_level(messy, c("y", "x1", "x2"), c("grp"), "first")
fit_one("messy_first", d, y ~ x1 + z_x2 + grp + x1:z_x2, "classical",
        c("y", "x1", "x2", "grp"), "x2")
fit_one("messy_first_hc3", d, y ~ x1 + z_x2 + grp + x1:z_x2, "hc3",
        c("y", "x1", "x2", "grp"), "x2")
d <- person_level(messy, c("x1", "x2"), c("grp"), "mean", messy_sr)
fit_one("messy_mean_hc3", d, sr_period ~ x1 + I(x1^2) + grp + z_x2 + z_x2:grp, "hc3",
        c("sr_period", "x1", "x2", "grp"), "x2")

writeLines(c(R.version.string, paste("platform:", R.version$platform)),
           file.path(dir, "r_session.txt"))
