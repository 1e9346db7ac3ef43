# Reference values for srflow's mixed models with participants nested in sites
# (mixed_models.<m>.nested_in; tests/test_mixed_nested.py): lme4 fits of
#   P ~ E + wave + arm + (1 | site) + (1 + E | participant_id)
# by REML and ML (best log-likelihood over several optimisers), lmerTest Satterthwaite df and
# Type III anova, performance::r2_nakagawa, and lme4's profile interval of the site SD (ML fits).
#
# Run from the repository root:  Rscript tests/reference/mixed_nested.R
# Writes tests/data/mixed_nested/{nest*.csv, fit.csv, fixed.csv, anova.csv, r2.csv,
# profile.csv, r_session.txt}. The cohorts are simulated here (set.seed) so that the data and
# the references come from one script.
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(performance)
})
out <- "tests/data/mixed_nested"
dir.create(out, showWarnings = FALSE, recursive = TRUE)

# Participants (unique ids across the cohort) in sites; 3-7 unbalanced waves; E a stressor
# sum 0-100 (uncentred); arm a 3-level participant factor; random intercept and E slope by
# participant, random intercept by site (SD site_sd).
simulate <- function(seed, n_sites, n_part, site_sd, slope_sd = 0.08) {
  set.seed(seed)
  site_of <- sort(sample(rep_len(seq_len(n_sites), n_part)))
  site_eff <- rnorm(n_sites, 0, site_sd)
  rows <- vector("list", n_part)
  for (i in seq_len(n_part)) {
    waves <- sort(sample(1:8, sample(3:7, 1)))
    e <- round(pmin(100, pmax(0, rnorm(length(waves), 45, 22))))
    arm <- c("a_ctrl", "b_short", "c_long")[(i %% 3) + 1]
    b0 <- rnorm(1, 0, 2.5); b1 <- rnorm(1, 0, slope_sd)
    p <- 10 + 0.1 * e - 0.15 * waves + c(a_ctrl = 0, b_short = -0.8, c_long = 0.6)[arm] +
      site_eff[site_of[i]] + b0 + b1 * e + rnorm(length(waves), 0, 3)
    rows[[i]] <- data.frame(participant_id = sprintf("p%04d", i),
                            site = sprintf("s%02d", site_of[i]), wave = waves, E = e, arm = arm,
                            P = round(p, 3))
  }
  do.call(rbind, rows)
}

datasets <- list(
  nest1 = simulate(11, 12, 150, site_sd = 1.5),
  nest2 = simulate(22, 25, 320, site_sd = 0.8),
  nest3 = simulate(33, 40, 600, site_sd = 0.0),   # no site variance: near-zero / singular
  nest4 = simulate(44, 10, 200, site_sd = 2.0, slope_sd = 0.12)
)
for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(out, paste0(nm, ".csv")), row.names = FALSE)
}

optimisers <- list(
  bobyqa = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)),
  Nelder_Mead = lmerControl(optimizer = "Nelder_Mead", optCtrl = list(maxfun = 1e5)),
  nloptwrap = lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", maxeval = 1e5,
                                         xtol_abs = 1e-10, ftol_abs = 1e-12)),
  nlminb = lmerControl(optimizer = "nlminbwrap")
)

best_fit <- function(d, reml) {
  form <- P ~ E + wave + arm + (1 | site) + (1 + E | participant_id)
  fits <- lapply(optimisers, function(ctrl) {
    tryCatch(lmerTest::lmer(form, data = d, REML = reml, control = ctrl), error = function(e) NULL)
  })
  fits <- fits[!vapply(fits, is.null, logical(1))]
  ll <- vapply(fits, function(m) as.numeric(logLik(m)), numeric(1))
  list(model = fits[[which.max(ll)]], optimizer = names(fits)[which.max(ll)], spread = max(ll) - min(ll))
}

tables <- list(fit = list(), fixed = list(), anova = list(), r2 = list(), profile = list())
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  d$arm <- factor(d$arm); d$site <- factor(d$site)
  for (method in c("reml", "ml")) {
    case <- paste(nm, method, sep = "_")
    best <- best_fit(d, method == "reml")
    m <- best$model
    vc <- as.data.frame(VarCorr(m))
    theta <- getME(m, "theta")
    tables$fit[[case]] <- data.frame(
      case = case, data = nm, method = method, loglik = as.numeric(logLik(m)),
      optimizer = best$optimizer, optimizer_spread = best$spread,
      sigma = sigma(m),
      sd_site = vc$sdcor[vc$grp == "site"],
      sd_intercept = vc$sdcor[vc$grp == "participant_id" & vc$var1 == "(Intercept)" & is.na(vc$var2)],
      sd_E = vc$sdcor[vc$grp == "participant_id" & vc$var1 == "E" & is.na(vc$var2)],
      corr = vc$sdcor[vc$grp == "participant_id" & !is.na(vc$var2)],
      theta = paste(sprintf("%.10g", theta), collapse = ";"),
      theta_names = paste(names(theta), collapse = ";"),
      singular = isSingular(m), n_obs = nrow(d), n_participants = nlevels(factor(d$participant_id)),
      n_sites = nlevels(d$site))
    co <- summary(m, ddf = "Satterthwaite")$coefficients
    tables$fixed[[case]] <- data.frame(
      case = case, term = rownames(co), estimate = co[, 1], se = co[, 2], df = co[, 3],
      t = co[, 4], p = co[, 5])
    a <- anova(m, type = 3, ddf = "Satterthwaite")
    tables$anova[[case]] <- data.frame(
      case = case, term = rownames(a), num_df = a$NumDF, den_df = a$DenDF,
      F = a[["F value"]], p = a[["Pr(>F)"]])
    r2 <- performance::r2_nakagawa(m)
    tables$r2[[case]] <- data.frame(
      case = case, r2_marginal = unname(r2$R2_marginal), r2_conditional = unname(r2$R2_conditional))
    if (method == "ml") {
      ci <- tryCatch(confint(m, parm = "sd_(Intercept)|site", method = "profile", oldNames = FALSE),
                     error = function(e) matrix(NA, 1, 2, dimnames = list("sd_(Intercept)|site", NULL)))
      tables$profile[[case]] <- data.frame(case = case, parameter = rownames(ci),
                                           low = ci[, 1], high = ci[, 2])
    }
  }
}
for (nm in names(tables)) {
  write.csv(do.call(rbind, tables[[nm]]), file.path(out, paste0(nm, ".csv")), row.names = FALSE)
}
writeLines(c(R.version.string, sprintf("lme4 %s", packageVersion("lme4")),
             sprintf("lmerTest %s", packageVersion("lmerTest")),
             sprintf("performance %s", packageVersion("performance")),
             sprintf("Matrix %s", packageVersion("Matrix"))),
           file.path(out, "r_session.txt"))
