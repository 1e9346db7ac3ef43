"""The report's reference list and the one way a reference is cited."""

from __future__ import annotations

#: The reference list; keys are used to cite. DOIs are shown as text, never linked.
REFERENCES: dict[str, dict[str, str]] = {
    "kalisch2017": {
        "cite": "Kalisch et al., 2017",
        "text": (
            "Kalisch R, Baker DG, Basten U, et al. (2017). The resilience framework as a strategy to combat "
            "stress-related disorders. Nature Human Behaviour, 1, 784–790. doi:10.1038/s41562-017-0200-8"
        ),
    },
    "kalisch2021": {
        "cite": "Kalisch et al., 2021",
        "text": (
            "Kalisch R, Köber G, Binder H, et al. (2021). The Frequent Stressor and Mental Health Monitoring-"
            "Paradigm: a proposal for the operationalization and measurement of resilience and the "
            "identification of resilience processes in longitudinal observational studies. Frontiers in "
            "Psychology, 12, 710493. doi:10.3389/fpsyg.2021.710493"
        ),
    },
    "bonanno2004": {
        "cite": "Bonanno, 2004",
        "text": (
            "Bonanno GA (2004). Loss, trauma, and human resilience: have we underestimated the human capacity "
            "to thrive after extremely aversive events? American Psychologist, 59(1), 20–28. "
            "doi:10.1037/0003-066X.59.1.20"
        ),
    },
    "vandeschoot2017": {
        "cite": "van de Schoot et al., 2017",
        "text": (
            "van de Schoot R, Sijbrandij M, Winter SD, Depaoli S, Vermunt JK (2017). The GRoLTS-Checklist: "
            "guidelines for reporting on latent trajectory studies. Structural Equation Modeling, 24(3), "
            "451–467. doi:10.1080/10705511.2016.1247646"
        ),
    },
    "molder2021": {
        "cite": "Mölder et al., 2021",
        "text": (
            "Mölder F, Jablonski KP, Letcher B, et al. (2021). Sustainable data analysis with Snakemake. "
            "F1000Research, 10, 33. doi:10.12688/f1000research.29032.2"
        ),
    },
    "harris2020": {
        "cite": "Harris et al., 2020",
        "text": (
            "Harris CR, Millman KJ, van der Walt SJ, et al. (2020). Array programming with NumPy. Nature, 585, "
            "357–362. doi:10.1038/s41586-020-2649-2"
        ),
    },
    "mckinney2010": {
        "cite": "McKinney, 2010",
        "text": (
            "McKinney W (2010). Data structures for statistical computing in Python. Proceedings of the 9th "
            "Python in Science Conference, 56–61. doi:10.25080/Majora-92bf1922-00a"
        ),
    },
    "seabold2010": {
        "cite": "Seabold & Perktold, 2010",
        "text": (
            "Seabold S, Perktold J (2010). Statsmodels: econometric and statistical modeling with Python. "
            "Proceedings of the 9th Python in Science Conference, 92–96. doi:10.25080/Majora-92bf1922-011"
        ),
    },
    "virtanen2020": {
        "cite": "Virtanen et al., 2020",
        "text": (
            "Virtanen P, Gommers R, Oliphant TE, et al. (2020). SciPy 1.0: fundamental algorithms for scientific "
            "computing in Python. Nature Methods, 17, 261–272. doi:10.1038/s41592-019-0686-2"
        ),
    },
    "hunter2007": {
        "cite": "Hunter, 2007",
        "text": (
            "Hunter JD (2007). Matplotlib: a 2D graphics environment. Computing in Science & Engineering, 9(3), "
            "90–95. doi:10.1109/MCSE.2007.55"
        ),
    },
    "bates2015": {
        "cite": "Bates et al., 2015",
        "text": (
            "Bates D, Mächler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models using lme4. "
            "Journal of Statistical Software, 67(1), 1–48. doi:10.18637/jss.v067.i01"
        ),
    },
    "kuznetsova2017": {
        "cite": "Kuznetsova et al., 2017",
        "text": (
            "Kuznetsova A, Brockhoff PB, Christensen RHB (2017). lmerTest package: tests in linear mixed effects "
            "models. Journal of Statistical Software, 82(13), 1–26. doi:10.18637/jss.v082.i13"
        ),
    },
    "kenward1997": {
        "cite": "Kenward & Roger, 1997",
        "text": (
            "Kenward MG, Roger JH (1997). Small sample inference for fixed effects from restricted maximum "
            "likelihood. Biometrics, 53(3), 983–997. doi:10.2307/2533558"
        ),
    },
    "nakagawa2013": {
        "cite": "Nakagawa & Schielzeth, 2013",
        "text": (
            "Nakagawa S, Schielzeth H (2013). A general and simple method for obtaining R² from generalized "
            "linear mixed-effects models. Methods in Ecology and Evolution, 4(2), 133–142. "
            "doi:10.1111/j.2041-210x.2012.00261.x"
        ),
    },
    "johnson2014": {
        "cite": "Johnson, 2014",
        "text": (
            "Johnson PCD (2014). Extension of Nakagawa & Schielzeth's R²GLMM to random slopes models. Methods "
            "in Ecology and Evolution, 5(9), 944–946. doi:10.1111/2041-210X.12225"
        ),
    },
    "mackinnon1985": {
        "cite": "MacKinnon & White, 1985",
        "text": (
            "MacKinnon JG, White H (1985). Some heteroskedasticity-consistent covariance matrix estimators with "
            "improved finite sample properties. Journal of Econometrics, 29(3), 305–325. "
            "doi:10.1016/0304-4076(85)90158-7"
        ),
    },
    "vermunt2010": {
        "cite": "Vermunt, 2010",
        "text": (
            "Vermunt JK (2010). Latent class modeling with covariates: two improved three-step approaches. "
            "Political Analysis, 18(4), 450–469. doi:10.1093/pan/mpq025"
        ),
    },
    "bakk2013": {
        "cite": "Bakk, Tekle & Vermunt, 2013",
        "text": (
            "Bakk Z, Tekle FB, Vermunt JK (2013). Estimating the association between latent class membership "
            "and external variables using bias-adjusted three-step approaches. Sociological Methodology, 43(1), "
            "272–311. doi:10.1177/0081175012470644"
        ),
    },
    "raftery1995": {
        "cite": "Raftery, 1995",
        "text": (
            "Raftery AE (1995). Bayesian model selection in social research. Sociological Methodology, 25, "
            "111–163. doi:10.2307/271063"
        ),
    },
}


def cite(key: str, used: list[str]) -> str:
    """The in-text citation of ``key``, remembering (once) that it was cited."""
    if key not in used:
        used.append(key)
    return REFERENCES[key]["cite"]
