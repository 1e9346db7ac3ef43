# lmerTest reference for Satterthwaite df at scale: participants nested in 100 sites,
# 20,000 participants x 10 waves (tests/mixed_large_data.py, seed 11), REML,
# P ~ E + RF + E:RF + (1 | site) + (1 + E | participant_id), optimizer bobyqa (its
# log-likelihood equals srflow's to 1e-6; nloptwrap stops 1.4e-3 lower).
# Run from the repository root:
#   python tests/mixed_large_data.py /tmp/mixed_large.csv
#   nice Rscript tests/reference/mixed_large_df.R /tmp/mixed_large.csv tests/data/mixed_large_df.csv
suppressPackageStartupMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); d$site <- factor(d$site)
m <- lmer(P ~ E + RF + E:RF + (1 | site) + (1 + E | participant_id), data = d,
          control = lmerControl(optimizer = "bobyqa"))
co <- summary(m)$coefficients
a <- anova(m, type = 3)
out <- data.frame(term = rownames(co), estimate = co[, "Estimate"], se = co[, "Std. Error"],
                  df = co[, "df"], loglik = as.numeric(logLik(m)), n_rows = nrow(d),
                  sum_P = sum(d$P))
out$anova_F <- c(NA, a[out$term[-1], "F value"])
write.csv(out, args[2], row.names = FALSE)
