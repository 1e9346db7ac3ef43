"""Config validation: defaults from the schema, readable errors naming key and allowed values."""

import copy
from pathlib import Path

import pytest
import yaml

from srflow.config import config_schema, load_config
from srflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "config" / "config.yaml"


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(DEFAULT.read_text())


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    return str(info.value)


def test_default_config_loads_with_schema_defaults():
    cfg = load_config(DEFAULT)
    cohort = cfg.cohort("synthetic")
    assert cfg.seed == 20261121
    assert cohort.problems.name == "ghq12"
    assert [s.name for s in cohort.stressors] == ["hassles", "life_events"]
    # defaults come from the schema, not from code
    assert cohort.layout == "long"
    assert cohort.exposure_combine == "sum"
    assert cohort.careless.instruments == ("ghq12",)
    assert cohort.careless.min_items == 6
    assert cohort.report == {
        "min_cell": 5,
        "max_points": 5000,
        "individual_points": False,
        "title": None,
    }
    assert cohort.instruments["hassles"].selector_kind == "regex"


def test_workflow_schema_is_the_package_schema():
    linked = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    assert yaml.safe_load(linked.read_text()) == config_schema()


def test_every_schema_property_has_description_and_leaf_default():
    """The contract: each key documented; optional keys carry a default."""
    missing = []

    def walk(schema, path):
        for name, sub in schema.get("properties", {}).items():
            here = f"{path}.{name}"
            if "description" not in sub:
                missing.append(f"{here}: description")
            required = name in schema.get("required", [])
            if (
                not required
                and "default" not in sub
                and "$ref" not in sub
                and path.split(".")[-1] != "items"
            ):
                missing.append(f"{here}: default")
            walk(sub, here)
        for key in ("additionalProperties",):
            if isinstance(schema.get(key), dict):
                walk(schema[key], path + ".*")

    schema = config_schema()
    walk(schema, "")
    for name, sub in schema["$defs"].items():
        walk(sub, "$defs." + name)
    # item selectors are exclusive alternatives, so they have no default
    # anchor is off when absent (a null default would break Snakemake's default filling)
    assert [m for m in missing if ".items." not in m and not m.endswith("anchor: default")] == []


def test_typo_names_key_and_suggests(raw):
    raw["cohorts"]["synthetic"]["lyout"] = "long"
    message = _error(raw)
    assert "cohorts.synthetic: unknown key 'lyout' (did you mean 'layout'?)" in message
    assert "allowed keys:" in message and "layout" in message


def test_wrong_enum_lists_allowed_values(raw):
    raw["cohorts"]["synthetic"]["on_invalid"] = "drop"
    assert (
        "cohorts.synthetic.on_invalid: 'drop' is not allowed; allowed values: fail, exclude"
        in _error(raw)
    )


def test_wrong_type_names_key(raw):
    raw["cohorts"]["synthetic"]["instruments"]["ghq12"]["min_answered"] = "most"
    assert "cohorts.synthetic.instruments.ghq12.min_answered: 'most' has the wrong type" in _error(
        raw
    )


def test_exactly_one_problems_instrument(raw):
    raw["cohorts"]["synthetic"]["instruments"]["hassles"]["role"] = "problems"
    assert "exactly one instrument must have role 'problems'" in _error(raw)


def test_loading_is_idempotent(raw):
    """Snakemake fills defaults into its config in place; loading a filled config must give the same view."""
    first = load_config(raw)
    assert load_config(first.data).cohorts == first.cohorts


def test_long_layout_needs_wave_column(raw):
    del raw["cohorts"]["synthetic"]["columns"]["wave"]
    assert "columns.wave: required for layout 'long'" in _error(raw)


def test_code_in_model_terms_is_rejected(raw):
    raw["mixed_models"] = {"m": {"fixed": ["__import__('os').system('x')"]}}
    assert "mixed_models.m.fixed.0" in _error(raw)


def test_cohort_blocks_override_top_level(raw):
    raw["sr"] = {"person": {"level": "period"}}
    other = copy.deepcopy(raw["cohorts"]["synthetic"])
    other["sr"] = {"waves": {"level": "wave", "form": "quadratic"}}
    other["regressions"] = {}  # the default's rf_traits needs the SR spec person
    raw["cohorts"]["second"] = other
    cfg = load_config(raw)
    assert list(cfg.cohort("synthetic").sr) == ["person"]
    assert cfg.cohort("synthetic").sr["person"]["form"] == "linear"  # default filled
    assert cfg.cohort("second").sr["waves"]["form"] == "quadratic"


def test_unknown_cohort_lists_known():
    cfg = load_config(DEFAULT)
    with pytest.raises(
        ConfigError,
        match="no cohort named 'x'; cohorts: synthetic|no cohort named 'x' in the config; cohorts: synthetic",
    ):
        cfg.cohort("x")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cohorts: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_readme_lists_every_key():
    """config/README.md embeds the generated key table; regenerate with `srflow config-reference`."""
    from srflow.config import schema_reference

    text = (ROOT / "config" / "README.md").read_text()
    start = text.index("<!-- BEGIN KEYS")
    body = text[text.index("\n", start) + 1 : text.index("<!-- END KEYS -->")]
    assert body == schema_reference()


def test_trajectory_specs_are_checked_against_the_cohort(raw):
    raw["trajectories"] = {
        "from_period": {"variable": "sr:person"},
        "unknown": {"variable": "PHQ"},
        "km": {"method": "kmeans", "bootstrap": 5},
        "backwards": {"classes": [4, 2]},
    }
    message = _error(raw)
    assert "trajectories.from_period.variable: SR spec 'person' has level period" in message
    assert (
        "trajectories.unknown.variable: 'PHQ' is not P, E, an instrument or a covariate of cohort synthetic"
        in message
    )
    assert "trajectories.km.bootstrap: the bootstrap LR test needs a likelihood" in message
    assert "trajectories.backwards.classes: smallest 4 is above largest 2" in message


def test_schema_nodes_use_only_json_schema_keywords():
    """Catches YAML slips such as an unquoted comma in a flow mapping turning text into keys."""
    keywords = {
        "$schema",
        "$id",
        "$defs",
        "$ref",
        "title",
        "description",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "pattern",
        "enum",
        "const",
        "default",
        "items",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "oneOf",
    }
    strays = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in keywords:
                    strays.append(f"{path}.{key}")
                if key in ("properties", "$defs"):
                    for name, sub in value.items():
                        walk(sub, f"{path}.{name}")
                elif key in ("additionalProperties", "items", "propertyNames"):
                    walk(value, f"{path}.{key}")
                elif key == "oneOf":
                    for i, sub in enumerate(value):
                        walk(sub, f"{path}.oneOf{i}")

    walk(config_schema(), "")
    assert strays == []


def test_mixed_model_terms_must_be_scores_columns(raw):
    raw["cohorts"]["synthetic"]["columns"]["wave"] = "visit"
    raw["mixed_models"] = {"m": {"fixed": ["E", "visit", "E:stress^2"], "random": ["slope"]}}
    message = _error(raw)
    assert (
        "mixed_models.m.fixed[1]: 'visit' names 'visit', which is not a column of the scores table"
        in message
    )
    assert (
        "source columns are renamed (subject_id -> participant_id, visit -> wave, date -> time)"
        in message
    )
    assert "mixed_models.m.fixed[2]: 'E:stress^2' names 'stress', which is not a column" in message
    assert "mixed_models.m.random[0]: 'slope' names 'slope', which is not a column" in message


# --- hostile or malformed config files ------------------------------------------------------------


def test_billion_laughs_is_stopped_before_validation(tmp_path):
    """Nine levels of nine aliases: 9**9 values once expanded, in under 1 KB of YAML."""
    import time

    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append("cohorts: {x: {input: a.csv}}")
    lines.append("report: {title: *i}")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1024
    started = time.monotonic()
    with pytest.raises(ConfigError, match="more than 100000 values once YAML aliases are expanded"):
        load_config(path)
    assert time.monotonic() - started < 5
    # a few aliases that share a block are fine
    raw = yaml.safe_load(DEFAULT.read_text())
    shared = {"role": "stressors", "items": {"prefix": "LE_"}, "range": [0, 5]}
    raw["cohorts"]["synthetic"]["instruments"]["life_events"] = shared
    raw["cohorts"]["synthetic"]["instruments"]["again"] = shared
    assert load_config(raw).cohort("synthetic").instruments["again"].range == (0.0, 5.0)


def test_nesting_size_and_tags_are_limited(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("cohorts: " + "[" * 100 + "]" * 100 + "\n")
    with pytest.raises(ConfigError, match="line 1: nesting deeper than 40 levels"):
        load_config(deep)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_000_001)
    with pytest.raises(ConfigError, match="a config is at most 1000000 bytes"):
        load_config(big)
    tagged = tmp_path / "tag.yaml"
    tagged.write_text("cohorts: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(tagged)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_long_values_are_capped_in_messages(raw):
    raw["cohorts"]["synthetic"]["layout"] = "x" * 100_000
    message = _error(raw)
    assert "(100000 characters)" in message and len(message) < 1000


def test_input_checks_that_need_no_data(raw):
    cohort = raw["cohorts"]["synthetic"]
    cohort["instruments"]["hassles"]["items"] = {"regex": "GE_(0[1-9]"}
    cohort["instruments"]["life_events"]["items"] = {"columns": ["LE_01", "age"]}
    cohort["encoding"] = "no-such-codec"
    cohort["wide_pattern"] = "{item}_t{wave}{0}"
    message = _error(raw)
    assert (
        "cohorts.synthetic.instruments.hassles.items.regex: 'GE_(0[1-9]' is not a valid regular expression"
        in message
    )
    assert "instruments.life_events.items.columns: 'age' is also columns.covariates.age" in message
    assert "cohorts.synthetic.encoding: unknown encoding 'no-such-codec'" in message
    assert (
        "cohorts.synthetic.wide_pattern: '{item}_t{wave}{0}' may hold only the placeholders {item} and {wave}; found {0}"
        in message
    )


def test_time_column_given_with_how_to_read_it(raw):
    cohort = raw["cohorts"]["synthetic"]
    cohort["columns"]["time"] = {"column": "date", "origin": "excel"}
    columns = load_config(raw).cohort("synthetic").columns
    assert (columns.time, columns.time_type, columns.time_origin, columns.time_unit) == (
        "date",
        "date",
        "excel",
        "days",
    )
    cohort["columns"]["time"] = {"column": "date", "origin": "1970-01-01", "type": "number"}
    assert "origin '1970-01-01' makes the numbers dates, but type is number" in _error(raw)
    cohort["columns"]["time"] = {"column": "date", "origin": "yesterday"}
    assert "cohorts.synthetic.columns.time" in _error(raw)


def test_mixed_model_df_and_contrasts_are_checked_before_any_data(raw):
    raw["mixed_models"] = {
        "kr_ml": {"fixed": ["E"], "method": "ml", "df": "kenward_roger"},
        "numeric_contrast": {"fixed": ["E", "age"], "contrasts": {"age": {"reference": 30}}},
        "unused_contrast": {"fixed": ["E"], "contrasts": {"arm": {"reference": "control"}}},
        "fine": {
            "fixed": ["E", "arm"],
            "contrasts": {"arm": {"reference": "control"}},
            "df": "wald",
        },
    }
    message = _error(raw)
    assert "mixed_models.kr_ml.df: kenward_roger is defined for REML fits only" in message
    assert (
        "mixed_models.numeric_contrast.contrasts.age: 'age' is a covariate of type integer"
        in message
    )
    assert "mixed_models.unused_contrast.contrasts.arm: no fixed term uses column 'arm'" in message
    assert "mixed_models.fine" not in message
    raw["mixed_models"] = {"m": {"fixed": ["E"], "df": "exact"}}
    assert "df" in _error(raw) and "satterthwaite" in _error(raw)
