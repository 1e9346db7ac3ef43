# Reference values for tests/test_reliability.py: Cronbach's alpha (psych::alpha, raw_alpha on
# the item covariances) and McDonald's omega total (psych::omega, one factor, fm = "minres", on
# the item correlations) per wave, on the rows with every item answered.
# Run from the repository root: Rscript tests/reference/reliability.R
suppressPackageStartupMessages(library(psych))
set.seed(20261202)
n <- 150
loadings <- c(0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
rows <- list()
for (wave in 1:3) {
  f <- rnorm(n)
  raw <- sapply(loadings, function(l) l * f + sqrt(1 - l^2) * rnorm(n))
  items <- pmin(pmax(round(raw + 1.5), 0), 3)  # 0..3 ratings
  items[sample(length(items), 40)] <- NA        # some unanswered items
  colnames(items) <- sprintf("Q_%d", 1:6)
  rows[[wave]] <- data.frame(participant_id = sprintf("p%03d", 1:n), wave = wave, items)
}
data <- do.call(rbind, rows)
write.csv(data, "tests/data/reliability/items.csv", row.names = FALSE, na = "")
out <- list()
for (wave in 1:3) {
  x <- data[data$wave == wave, sprintf("Q_%d", 1:6)]
  x <- x[complete.cases(x), ]
  a <- psych::alpha(x, warnings = FALSE)$total$raw_alpha
  o <- suppressWarnings(psych::omega(x, nfactors = 1, fm = "minres", plot = FALSE))
  f1 <- psych::fa(x, nfactors = 1, fm = "minres")
  out[[wave]] <- data.frame(
    wave = wave, n = nrow(x), alpha = sprintf("%.15g", a),
    omega = sprintf("%.15g", o$omega.tot),
    loadings = paste(sprintf("%.15g", as.numeric(f1$loadings)), collapse = ";")
  )
}
write.csv(do.call(rbind, out), "tests/data/reliability/psych.csv", row.names = FALSE, quote = TRUE)
writeLines(c(R.version.string, paste("psych", packageVersion("psych"))), "tests/data/reliability/versions.txt")
