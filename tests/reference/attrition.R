# Reference values for tests/test_attrition.py: the attrition model (P observed at the last wave
# ~ baseline covariates) fitted by R's glm(family = binomial), Wald CIs (confint.default) and the
# likelihood-ratio test against the intercept-only model (anova(..., test = "Chisq")).
# Run from the repository root: Rscript tests/reference/attrition.R
set.seed(20261203)
n <- 300
age <- round(rnorm(n, 40, 12))
gender <- sample(c("female", "male", "other"), n, replace = TRUE, prob = c(0.5, 0.4, 0.1))
arm <- sample(c("control", "treatment"), n, replace = TRUE)
age[sample(n, 12)] <- NA                     # missing at baseline: dropped from the model
p_stay <- plogis(0.4 + 0.03 * (age - 40) - 0.6 * (arm == "treatment") + 0.3 * (gender == "male"))
p_stay[is.na(p_stay)] <- 0.5
stay <- rbinom(n, 1, p_stay)
rows <- list()
for (wave in 1:3) {
  present <- if (wave < 3) rep(TRUE, n) else stay == 1 | runif(n) < 0.1  # some rows with P missing
  P <- round(rnorm(n, 10, 3), 3)
  if (wave == 3) P[stay == 0] <- NA
  rows[[wave]] <- data.frame(participant_id = sprintf("p%03d", 1:n), wave = wave, P = P,
                             age = age, gender = gender, arm = arm)[present, ]
}
data <- do.call(rbind, rows)
data <- data[!(data$participant_id == "p001" & data$wave == 1), ]  # joins late: not in the model
write.csv(data, "tests/data/attrition/scores.csv", row.names = FALSE, na = "")

base <- data[data$wave == 1, ]
last <- data[data$wave == 3 & !is.na(data$P), "participant_id"]
base$retained <- as.integer(base$participant_id %in% last)
base <- base[complete.cases(base[, c("age", "gender", "arm")]), ]
fit <- glm(retained ~ age + gender + arm, family = binomial, data = base,
           control = glm.control(epsilon = 1e-14, maxit = 100))
null <- glm(retained ~ 1, family = binomial, data = base)
s <- summary(fit)$coefficients
ci <- confint.default(fit)
f <- function(x) sprintf("%.15g", x)
coefs <- data.frame(term = rownames(s), estimate = f(s[, 1]), se = f(s[, 2]), statistic = f(s[, 3]),
                    p = f(s[, 4]), ci_low = f(ci[, 1]), ci_high = f(ci[, 2]))
write.csv(coefs, "tests/data/attrition/glm_coefficients.csv", row.names = FALSE)
lr <- anova(null, fit, test = "Chisq")
stats <- data.frame(n_obs = nrow(base), n_retained = sum(base$retained),
                    loglik = f(as.numeric(logLik(fit))), null_loglik = f(as.numeric(logLik(null))),
                    lr_statistic = f(lr$Deviance[2]), lr_df = lr$Df[2], lr_p = f(lr[["Pr(>Chi)"]][2]),
                    aic = f(AIC(fit)))
write.csv(stats, "tests/data/attrition/glm_fit.csv", row.names = FALSE)
writeLines(R.version.string, "tests/data/attrition/versions.txt")
