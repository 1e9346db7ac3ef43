"""A corpus of malformed inputs derived from the bundled cohort, each with its expected outcome.

Every case writes, into a folder of its own, a data file (derived from the first participants
of ``data/synthetic/cohort.csv``) and a config, and says what ``srflow validate`` must do with
them: ``ok`` (exit 0) or ``fail`` (exit 1 with a message that contains every text in
``mentions``: the file, row, column, value and rule, or the config key). Nothing is committed:
the files are generated at test time (``tests/test_corpus.py``).

    python tests/corpus/make_corpus.py OUT    # writes every case to OUT/<case>/ to look at
"""

from __future__ import annotations

import copy
import gzip
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "data" / "synthetic" / "cohort.csv"
#: Participants of the bundled cohort every case starts from (small, so the corpus runs fast).
N_PARTICIPANTS = 40
#: A file that a command run by a code-like string would create.
CANARY = "PWNED"
CODE = f"$(touch {CANARY}) `touch {CANARY}` __import__('os').system('touch {CANARY}') {{{{7*7}}}}"


@dataclass
class Built:
    """What a case wrote: the config and how many canonical rows the ledger must have."""

    config: Path
    n_rows: int | None


@dataclass
class Case:
    """One malformed (or tricky but valid) input and what srflow must do with it."""

    name: str
    kind: str  # values, keys, files, config, analyses
    expect: str  # "ok" or "fail"
    build: Callable[[Path], Built]
    mentions: tuple[str, ...] = ()
    slow: bool = False
    absent: tuple[str, ...] = field(default=())  # texts the output must not contain


def base_frame() -> pd.DataFrame:
    """The first participants of the bundled cohort, every cell as the text in the file."""
    frame = pd.read_csv(COHORT, dtype=str, keep_default_na=False)
    keep = frame["subject_id"].isin(frame["subject_id"].unique()[:N_PARTICIPANTS])
    return frame[keep].reset_index(drop=True)


def base_config(input_path: Path | str) -> dict:
    """The bundled config for one cohort, with analyses small enough to run in seconds."""
    return {
        "seed": 20261121,
        "cohorts": {
            "corpus": {
                "input": str(input_path),
                "layout": "long",
                "columns": {
                    "participant": "subject_id",
                    "wave": "wave",
                    "time": "date",
                    "covariates": {"age": "integer", "gender": "category", "arm": "category"},
                },
                "missing_codes": [-99],
                "on_invalid": "fail",
                "instruments": {
                    "ghq12": {
                        "role": "problems",
                        "items": {"prefix": "GHQ_"},
                        "range": [0, 3],
                        "score": "prorated_sum",
                        "reverse": ["GHQ_01", "GHQ_03", "GHQ_04", "GHQ_07", "GHQ_08", "GHQ_12"],
                    },
                    "hassles": {
                        "role": "stressors",
                        "items": {"regex": "^GE_(0[1-9]|1[01])$"},
                        "range": [0, 5],
                        "score": "prorated_sum",
                    },
                    "life_events": {
                        "role": "stressors",
                        "items": {"prefix": "LE_"},
                        "range": [0, 5],
                        "score": "prorated_sum",
                    },
                },
            }
        },
        "sr": {"per_wave": {"level": "wave"}, "person": {"level": "period", "min_waves": 3}},
        "mixed_models": {"time_only": {"outcome": "P", "fixed": ["E", "wave"], "method": "ml"}},
        "trajectories": {
            "problems": {"variable": "P", "method": "kmeans", "classes": [1, 2], "starts": 3}
        },
    }


def cohort_of(config: dict) -> dict:
    return config["cohorts"]["corpus"]


def write_config(folder: Path, config: dict | str) -> Path:
    path = folder / "config.yaml"
    text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def write_csv(folder: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = folder / name
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- builders


def edited(
    changes: list[tuple[int, str, str]],
    configure: Callable[[dict], None] | None = None,
) -> Callable[[Path], Built]:
    """A case: the base file with cells changed (0-based row, column, text) and the config edited."""

    def build(folder: Path) -> Built:
        frame = base_frame()
        for row, column, value in changes:
            frame.loc[row, column] = value
        path = write_csv(folder, frame)
        config = base_config(path)
        if configure:
            configure(config)
        return Built(write_config(folder, config), len(frame))

    return build


def framed(
    change: Callable[[pd.DataFrame], pd.DataFrame],
    configure: Callable[[dict], None] | None = None,
) -> Callable[[Path], Built]:
    """A case: the base file transformed as a whole."""

    def build(folder: Path) -> Built:
        frame = change(base_frame())
        path = write_csv(folder, frame)
        config = base_config(path)
        if configure:
            configure(config)
        return Built(write_config(folder, config), len(frame))

    return build


def raw_file(
    name: str,
    content: Callable[[pd.DataFrame], bytes],
    configure: Callable[[dict], None] | None = None,
) -> Callable[[Path], Built]:
    """A case: a data file written byte by byte (broken files)."""

    def build(folder: Path) -> Built:
        frame = base_frame()
        path = folder / name
        path.write_bytes(content(frame))
        config = base_config(path)
        if configure:
            configure(config)
        return Built(write_config(folder, config), None)

    return build


def configured(configure: Callable[[dict], None], n_rows: bool = True) -> Callable[[Path], Built]:
    """A case: the base file unchanged, the config edited."""
    return edited([], configure) if n_rows else _unchecked(edited([], configure))


def _unchecked(build: Callable[[Path], Built]) -> Callable[[Path], Built]:
    def inner(folder: Path) -> Built:
        built = build(folder)
        return Built(built.config, None)

    return inner


def config_text(text: Callable[[Path], str]) -> Callable[[Path], Built]:
    """A case: the config written as YAML text (hostile YAML)."""

    def build(folder: Path) -> Built:
        path = write_csv(folder, base_frame())
        return Built(write_config(folder, text(path)), None)

    return build


def binary(writer: str, change: Callable[[pd.DataFrame], None]) -> Callable[[Path], Built]:
    """A case: the base data as SPSS or Stata, with cells changed."""

    def build(folder: Path) -> Built:
        frame = base_frame()
        numeric = frame.drop(columns=["subject_id", "gender", "arm", "date"]).replace("", np.nan)
        frame = pd.concat(
            [frame[["subject_id", "gender", "arm", "date"]], numeric.astype(float)], axis=1
        )
        change(frame)
        if writer == "sav":
            import pyreadstat

            path = folder / "data.sav"
            pyreadstat.write_sav(frame, str(path))
        else:
            path = folder / "data.dta"
            frame.to_stata(path, write_index=False, version=118)
        return Built(write_config(folder, base_config(path)), len(frame))

    return build


def wide(change: Callable[[pd.DataFrame], None], n_waves: int = 8) -> Callable[[Path], Built]:
    """A case: the base data as a wide file ({item}_t{wave}), with cells changed."""

    def build(folder: Path) -> Built:
        frame = base_frame()
        stable = ["subject_id", "age", "gender", "arm"]
        per_wave = [c for c in frame.columns if c not in stable and c != "wave"]
        table = frame.pivot(index="subject_id", columns="wave", values=per_wave)
        table.columns = [f"{item}_t{wave}" for item, wave in table.columns]
        people = frame.drop_duplicates("subject_id").set_index("subject_id")[stable[1:]]
        out = people.join(table).reset_index().fillna("")
        change(out)
        path = write_csv(folder, out)
        config = base_config(path)
        cohort = cohort_of(config)
        cohort["layout"] = "wide"
        cohort["columns"]["wave"] = None
        waves = sorted({int(c.rsplit("_t", 1)[1]) for c in out.columns if "_t" in c})
        return Built(write_config(folder, config), len(out) * len(waves))

    return build


def excel(change: Callable[[Path], None]) -> Callable[[Path], Built]:
    def build(folder: Path) -> Built:
        path = folder / "data.xlsx"
        base_frame().head(30).to_excel(path, index=False, sheet_name="cohort")
        change(path)
        config = base_config(path)
        return Built(write_config(folder, config), None)

    return build


def _excel_with(folder: Path, column: str, row: int, value) -> Built:
    """The first 30 base rows as an Excel sheet with one cell changed (numbers stored as numbers)."""
    frame = base_frame().head(30)
    numeric = [
        c for c in frame.columns if c.startswith(("GHQ_", "GE_", "LE_")) or c in ("wave", "age")
    ]
    frame[numeric] = frame[numeric].apply(pd.to_numeric)
    frame.loc[row, column] = value
    path = folder / "data.xlsx"
    frame.to_excel(path, index=False, sheet_name="cohort")
    return Built(write_config(folder, base_config(path)), len(frame))


def _set(path: str, value) -> Callable[[dict], None]:
    """Set a key of the cohort (dotted path) in the config."""

    def configure(config: dict) -> None:
        node = cohort_of(config)
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = value

    return configure


def _top(path: str, value) -> Callable[[dict], None]:
    def configure(config: dict) -> None:
        node = config
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return configure


def _both(*steps: Callable[[dict], None]) -> Callable[[dict], None]:
    def configure(config: dict) -> None:
        for step in steps:
            step(config)

    return configure


def _numeric_dates(origin: str, shift: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Dates written as numbers: days since ``origin`` (plus ``shift`` days, Excel's 1899-12-30)."""

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        days = (pd.to_datetime(frame["date"]) - pd.Timestamp(origin)).dt.days + shift
        return frame.assign(date=days.astype(str))

    return change


def _drop_rows(keep: Callable[[pd.DataFrame], pd.Series]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame[keep(frame)].reset_index(drop=True)


def _blank(columns_of: Callable[[pd.DataFrame], list[str]], value: str = ""):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[columns_of(frame)] = value
        return frame

    return change


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _ragged(short: bool) -> Callable[[pd.DataFrame], bytes]:
    def content(frame: pd.DataFrame) -> bytes:
        lines = frame.to_csv(index=False).splitlines()
        fields = lines[7].split(",")  # data row 7 (line 8)
        lines[7] = ",".join(fields[:-3] if short else fields + ["extra"])
        return ("\n".join(lines) + "\n").encode("utf-8")

    return content


def _duplicate_header(name: str, rename: str) -> Callable[[pd.DataFrame], bytes]:
    def content(frame: pd.DataFrame) -> bytes:
        text = frame.to_csv(index=False)
        header, rest = text.split("\n", 1)
        fields = header.split(",")
        fields[fields.index(rename)] = name
        return (",".join(fields) + "\n" + rest).encode("utf-8")

    return content


def _replace_cell_bytes(column: str, row: int, raw: bytes) -> Callable[[pd.DataFrame], bytes]:
    def content(frame: pd.DataFrame) -> bytes:
        frame = frame.copy()
        frame.loc[row, column] = "@@CELL@@"
        return _csv_bytes(frame).replace(b"@@CELL@@", raw)

    return content


def _billion_laughs(path: Path) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[i]
        lines.append(
            f"{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},"
            f"*{previous},*{previous},*{previous},*{previous}]"
        )
    config = yaml.safe_dump(base_config(path), sort_keys=False)
    return "\n".join(lines) + "\n" + config + "report: {title: *i}\n"


def _deep(path: Path) -> str:
    config = yaml.safe_dump(base_config(path), sort_keys=False)
    return config + "report: {title: " + "[" * 5000 + "]" * 5000 + "}\n"


def _huge(path: Path) -> str:
    config = yaml.safe_dump(base_config(path), sort_keys=False)
    return config + "# " + "x" * 1_200_000 + "\n"


def _python_tag(path: Path) -> str:
    config = yaml.safe_dump(base_config(path), sort_keys=False)
    return config + f"report: {{title: !!python/object/apply:os.system ['touch {CANARY}']}}\n"


def _duplicated_key(path: Path) -> str:
    config = yaml.safe_dump(base_config(path), sort_keys=False)
    return config.replace("seed: 20261121\n", "seed: 20261121\nseed: 5\n", 1)


def _unclosed_quote(frame: pd.DataFrame) -> bytes:
    lines = frame.to_csv(index=False).splitlines()
    lines[5] = lines[5].replace(",", ',"', 1)  # data row 5 opens a quote that never closes
    return ("\n".join(lines) + "\n").encode("utf-8")


def _not_a_mapping(path: Path) -> str:
    return "- just\n- a list\n"


def _reverse_13(config: dict) -> None:
    cohort_of(config)["instruments"]["ghq12"]["reverse"] = ["GHQ_13"]


def _covariate_item(config: dict) -> None:
    cohort_of(config)["instruments"]["hassles"]["items"] = {"columns": ["GE_01", "GE_02", "age"]}


def _two_problems(config: dict) -> None:
    cohort_of(config)["instruments"]["hassles"]["role"] = "problems"


def _anchor(column: str) -> Callable[[dict], None]:
    def configure(config: dict) -> None:
        config["trajectories"]["problems"]["anchor"] = {"column": column, "threshold": 3}

    return configure


def _code_everywhere(config: dict) -> None:
    """Code-like text in every free string field that still leaves a valid config."""
    cohort = cohort_of(config)
    cohort["missing_codes"] = [-99, CODE]
    cohort["instruments"]["ghq12"]["missing_codes"] = [CODE]
    config["report"] = {"title": CODE}


def _no_time(config: dict) -> None:
    cohort_of(config)["columns"]["time"] = None
    config["trajectories"]["problems"]["time"] = "time"


def _sr_trajectory(config: dict) -> None:
    config["trajectories"]["problems"]["variable"] = "sr:person"


def _write_excel_zero(path: Path) -> None:
    path.write_bytes(b"")


def _write_folder(folder: Path) -> Built:
    data = folder / "data.csv"
    data.mkdir()
    return Built(write_config(folder, base_config(data)), None)


def _missing_file(folder: Path) -> Built:
    return Built(write_config(folder, base_config(folder / "nowhere.csv")), None)


def _config_folder(folder: Path) -> Built:
    path = folder / "config.yaml"
    path.mkdir()
    return Built(path, None)


def _empty_config(folder: Path) -> Built:
    return Built(write_config(folder, ""), None)


def _wide_pattern_format(folder: Path) -> Built:
    built = wide(lambda frame: None)(folder)
    config = yaml.safe_load(built.config.read_text())
    cohort_of(config)["wide_pattern"] = "{item}_t{wave}{__class__}"
    return Built(write_config(folder, config), None)


def _cases() -> list[Case]:
    fail, ok = "fail", "ok"
    item = ("data.csv",)  # every data message names the file
    cases = [
        # ---- values
        Case(
            "value_out_of_range",
            "values",
            fail,
            edited([(10, "GHQ_05", "7")]),
            (*item, "row 11, column GHQ_05, value '7': item_in_range", "range 0 to 3"),
        ),
        Case(
            "value_negative",
            "values",
            fail,
            edited([(5, "GE_03", "-1")]),
            (*item, "row 6, column GE_03, value '-1': item_in_range"),
        ),
        Case(
            "value_text",
            "values",
            fail,
            edited([(3, "GHQ_02", "abc")]),
            (*item, "row 4, column GHQ_02, value 'abc': item_numeric"),
        ),
        Case("value_decimal_in_range", "values", ok, edited([(3, "GHQ_02", "1.5")])),
        Case(
            "value_decimal_comma",
            "values",
            fail,
            edited([(3, "GHQ_02", "1,5")]),
            (*item, "row 4, column GHQ_02, value '1,5': item_numeric"),
        ),
        Case(
            "value_inf",
            "values",
            fail,
            edited([(2, "GHQ_03", "inf")]),
            (*item, "row 3, column GHQ_03, value 'inf': item_numeric"),
        ),
        Case("value_nan_token", "values", ok, edited([(2, "GHQ_03", "NaN")])),
        Case(
            "value_huge",
            "values",
            fail,
            edited([(4, "GHQ_04", "1e308")]),
            (*item, "row 5, column GHQ_04", "item_in_range"),
        ),
        Case(
            "value_overflow",
            "values",
            fail,
            edited([(4, "GHQ_04", "1e400")]),
            (*item, "row 5, column GHQ_04, value '1e400': item_numeric"),
        ),
        Case(
            "value_100k_characters",
            "values",
            fail,
            edited([(6, "GHQ_06", "x" * 100_000)]),
            (*item, "row 7, column GHQ_06", "(100000 characters)", "item_numeric"),
            absent=("x" * 1000,),
        ),
        Case(
            "value_undeclared_missing_code",
            "values",
            fail,
            edited([(8, "GHQ_07", "-99")], _set("missing_codes", [])),
            (*item, "row 9, column GHQ_07, value '-99': item_in_range"),
        ),
        Case("value_declared_missing_code", "values", ok, edited([(8, "GHQ_07", "-99")])),
        Case(
            "value_fullwidth_digit",
            "values",
            fail,
            edited([(9, "GHQ_08", "\uff13")]),
            (*item, "row 10, column GHQ_08", "item_numeric"),
        ),
        Case("value_spaces_around", "values", ok, edited([(9, "GHQ_08", " 2 ")])),
        Case(
            "covariate_text_for_integer",
            "values",
            fail,
            edited([(0, "age", "forty")]),
            (*item, "row 1, column age, value 'forty': covariate_type"),
        ),
        Case(
            "covariate_decimal_for_integer",
            "values",
            fail,
            edited([(0, "age", "40.5")]),
            (*item, "row 1, column age, value '40.5': covariate_type"),
        ),
        Case(
            "date_unreadable",
            "values",
            fail,
            edited([(12, "date", "2021-13-45")]),
            (*item, "row 13, column date, value '2021-13-45': time_parseable"),
        ),
        Case(
            "date_before_previous_wave",
            "values",
            fail,
            edited([(1, "date", "2019-01-01")]),
            (*item, "row 2, column date, value '2019-01-01': time_non_decreasing"),
        ),
        Case(
            "code_like_cells",
            "values",
            ok,
            edited([(0, "gender", f'=SYSTEM("touch {CANARY}")'), (1, "arm", CODE)]),
        ),
        # ---- keys
        Case(
            "key_missing_id",
            "keys",
            fail,
            edited([(14, "subject_id", "")]),
            (*item, "row 15, column subject_id", "participant_id_present"),
        ),
        Case(
            "key_duplicate",
            "keys",
            fail,
            framed(lambda f: pd.concat([f, f.iloc[[3]]], ignore_index=True)),
            (*item, "column subject_id,wave", "unique_participant_wave"),
        ),
        Case(
            "key_wave_zero",
            "keys",
            fail,
            edited([(0, "wave", "0")]),
            (*item, "row 1, column wave, value '0': wave_integer_ge_1"),
        ),
        Case(
            "key_wave_negative",
            "keys",
            fail,
            edited([(0, "wave", "-1")]),
            (*item, "row 1, column wave, value '-1': wave_integer_ge_1"),
        ),
        Case(
            "key_wave_decimal",
            "keys",
            fail,
            edited([(0, "wave", "1.5")]),
            (*item, "row 1, column wave, value '1.5': wave_integer_ge_1"),
        ),
        Case(
            "key_wave_text",
            "keys",
            fail,
            edited([(0, "wave", "first")]),
            (*item, "row 1, column wave, value 'first': wave_integer_ge_1"),
        ),
        Case(
            "key_wave_huge",
            "keys",
            fail,
            edited([(0, "wave", "1e20")]),
            (*item, "row 1, column wave", "wave_integer_ge_1", "from 1 to 100000"),
        ),
        Case(
            "key_wave_missing",
            "keys",
            fail,
            edited([(0, "wave", "")]),
            (*item, "row 1, column wave", "wave_integer_ge_1"),
        ),
        Case("key_id_with_spaces", "keys", ok, edited([(0, "subject_id", " S0001 ")])),
        Case(
            "exclude_policy_goes_on",
            "keys",
            ok,
            edited([(10, "GHQ_05", "7"), (0, "wave", "0")], _set("on_invalid", "exclude")),
            ("on_invalid is exclude", "item_in_range: 1", "wave_integer_ge_1: 1"),
        ),
        # ---- files
        Case(
            "file_zero_bytes",
            "files",
            fail,
            raw_file("data.csv", lambda f: b""),
            ("data.csv is empty",),
        ),
        Case(
            "file_header_only",
            "files",
            fail,
            raw_file("data.csv", lambda f: _csv_bytes(f).split(b"\n", 1)[0] + b"\n"),
            ("data.csv has a header but no data rows",),
        ),
        Case(
            "file_ragged_short_row",
            "files",
            fail,
            raw_file("data.csv", _ragged(short=True)),
            ("data.csv", "row 7 (line 8) has", "every row has as many fields as the header"),
        ),
        Case(
            "file_ragged_long_row",
            "files",
            fail,
            raw_file("data.csv", _ragged(short=False)),
            ("data.csv", "row 7 (line 8) has", "every row has as many fields as the header"),
        ),
        Case(
            "file_unclosed_quote",
            "files",
            fail,
            raw_file("data.csv", _unclosed_quote),
            ("data.csv", "row 5 (line 6) has", "an unclosed quote?"),
        ),
        Case(
            "file_duplicated_item_header",
            "files",
            fail,
            raw_file("data.csv", _duplicate_header("GHQ_05", "GHQ_06")),
            ("data.csv", "'GHQ_05' (header fields", "every column name is unique"),
        ),
        Case(
            "file_duplicated_unused_header",
            "files",
            ok,
            raw_file(
                "data.csv",
                lambda f: _csv_bytes(f.assign(note1="a", note2="b")).replace(b"note2", b"note1"),
            ),
            ("duplicate column name 'note1' renamed to 'note1.1'",),
        ),
        Case(
            "file_100k_character_header_name",
            "files",
            fail,
            framed(
                lambda f: f.rename(columns={"arm": "a" * 100_000}),
                _set("columns.covariates", {"age": "integer", "arm": "category"}),
            ),
            ("data.csv", "columns.covariates.arm names column 'arm'", "(100000 characters)"),
            absent=("a" * 1000,),
        ),
        Case(
            "excel_bad_value",
            "files",
            fail,
            lambda folder: _excel_with(folder, "GHQ_03", 2, 8),
            ("data.xlsx", "row 3, column GHQ_03, value '8': item_in_range"),
        ),
        Case(
            "file_nul_byte",
            "files",
            fail,
            raw_file("data.csv", _replace_cell_bytes("GHQ_02", 3, b"1\x002")),
            ("data.csv", "row 4, column GHQ_02", "item_numeric"),
        ),
        Case(
            "file_undecodable_bytes",
            "files",
            ok,
            raw_file("data.csv", _replace_cell_bytes("gender", 3, b"f\xe9male")),
            ("not valid UTF-8; read as cp1252",),
        ),
        Case(
            "file_wrong_encoding",
            "files",
            fail,
            raw_file("data.csv", _csv_bytes, _set("encoding", "utf-16")),
            ("cannot read", "data.csv", "UTF-16", "check the cohort keys 'encoding'"),
        ),
        Case(
            "file_unknown_encoding",
            "files",
            fail,
            raw_file("data.csv", _csv_bytes, _set("encoding", "klingon-8")),
            ("cohorts.corpus.encoding: unknown encoding 'klingon-8'",),
        ),
        Case("file_is_a_folder", "files", fail, _write_folder, ("is a folder",)),
        Case("file_missing", "files", fail, _missing_file, ("input file not found", "nowhere.csv")),
        Case(
            "file_utf16_with_bom",
            "files",
            ok,
            raw_file("data.csv", lambda f: f.to_csv(index=False).encode("utf-16")),
        ),
        Case(
            "file_gzip_named_csv",
            "files",
            fail,
            raw_file("data.csv", lambda f: gzip.compress(_csv_bytes(f), mtime=0)),
            ("data.csv is a gzip file, not delimited text",),
        ),
        Case(
            "file_binary_garbage",
            "files",
            fail,
            raw_file("data.csv", lambda f: bytes(range(256)) * 50),
            ("cannot read", "data.csv", "check the cohort keys 'encoding'"),
        ),
        Case(
            "file_unsupported_extension",
            "files",
            fail,
            raw_file("data.json", _csv_bytes),
            ("unsupported file type '.json'",),
        ),
        Case(
            "file_corrupt_parquet",
            "files",
            fail,
            raw_file("data.parquet", lambda f: b"PAR1 no"),
            ("cannot read", "data.parquet"),
        ),
        Case(
            "file_semicolons_bom_crlf",
            "files",
            ok,
            raw_file(
                "data.csv",
                lambda f: (
                    b"\xef\xbb\xbf"
                    + f.to_csv(index=False, sep=";").replace("\n", "\r\n").encode("utf-8")
                ),
            ),
        ),
        Case(
            "excel_zero_bytes",
            "files",
            fail,
            excel(_write_excel_zero),
            ("cannot read", "data.xlsx"),
        ),
        Case(
            "excel_wrong_sheet",
            "files",
            fail,
            lambda folder: _with(excel(lambda p: None)(folder), _set("sheet", "nosuch")),
            ("no sheet 'nosuch'", "sheets in the file: cohort"),
        ),
        Case(
            "spss_bad_value",
            "files",
            fail,
            binary("sav", lambda f: f.__setitem__("GHQ_05", f["GHQ_05"].where(f.index != 4, 9.0))),
            ("data.sav", "row 5, column GHQ_05, value '9': item_in_range"),
        ),
        Case(
            "stata_bad_value",
            "files",
            fail,
            binary("dta", lambda f: f.__setitem__("GE_02", f["GE_02"].where(f.index != 6, -5.0))),
            ("data.dta", "row 7, column GE_02, value '-5': item_in_range"),
        ),
        Case(
            "wide_bad_value",
            "files",
            fail,
            wide(lambda f: f.__setitem__("GHQ_05_t2", f["GHQ_05_t2"].where(f.index != 2, "9"))),
            ("data.csv", "row 3, column GHQ_05_t2, value '9': item_in_range"),
        ),
        Case(
            "wide_text_value",
            "files",
            fail,
            wide(lambda f: f.__setitem__("LE_01_t1", f["LE_01_t1"].where(f.index != 0, "yes"))),
            ("data.csv", "row 1, column LE_01_t1, value 'yes': item_numeric"),
        ),
        Case("wide_ok", "files", ok, wide(lambda f: None)),
        # ---- config
        Case(
            "config_unknown_key",
            "config",
            fail,
            configured(_set("instrumnts", {}), n_rows=False),
            ("cohorts.corpus: unknown key 'instrumnts' (did you mean 'instruments'?)",),
        ),
        Case(
            "config_wrong_type",
            "config",
            fail,
            configured(
                lambda c: cohort_of(c)["instruments"]["ghq12"].__setitem__("range", "0-3"), False
            ),
            ("cohorts.corpus.instruments.ghq12.range", "wrong type"),
        ),
        Case(
            "config_bad_regex",
            "config",
            fail,
            configured(
                lambda c: cohort_of(c)["instruments"]["hassles"].__setitem__(
                    "items", {"regex": "GHQ_(0[1-9]"}
                ),
                False,
            ),
            ("instruments.hassles.items.regex", "'GHQ_(0[1-9]'", "not a valid regular expression"),
        ),
        Case(
            "config_regex_matches_nothing",
            "config",
            fail,
            configured(
                lambda c: cohort_of(c)["instruments"]["hassles"].__setitem__(
                    "items", {"regex": "^HASSLE_.*$"}
                ),
                False,
            ),
            ("instruments.hassles.items: regex '^HASSLE_.*$' matches no column",),
        ),
        Case(
            "config_unknown_participant_column",
            "config",
            fail,
            configured(_set("columns.participant", "subjectid"), False),
            ("columns.participant names column 'subjectid'", "did you mean 'subject_id'"),
        ),
        Case(
            "config_unknown_covariate",
            "config",
            fail,
            configured(_set("columns.covariates", {"income": "numeric"}), False),
            ("columns.covariates.income names column 'income'",),
        ),
        Case(
            "config_reverse_not_an_item",
            "config",
            fail,
            configured(_reverse_13, False),
            ("instruments.ghq12.reverse", "'GHQ_13' not among the instrument's items"),
        ),
        Case(
            "config_covariate_also_item",
            "config",
            fail,
            configured(_covariate_item, False),
            ("instruments.hassles.items.columns", "'age' is also columns.covariates.age"),
        ),
        Case(
            "config_two_problems",
            "config",
            fail,
            configured(_two_problems, False),
            ("exactly one instrument must have role 'problems'",),
        ),
        Case(
            "config_unknown_anchor_column",
            "config",
            fail,
            configured(_anchor("E_typo"), False),
            ("trajectories.problems.anchor.column", "'E_typo'"),
        ),
        Case("config_item_anchor_column", "config", ok, configured(_anchor("LE_01"))),
        Case(
            "config_unknown_predictor",
            "config",
            fail,
            configured(_top("mixed_models.time_only.fixed", ["E", "stress"]), False),
            ("mixed_models.time_only.fixed[1]: 'stress' names 'stress', which is not a column",),
        ),
        Case(
            "config_unknown_contrast_model",
            "config",
            fail,
            configured(_top("mixed_models.time_only.compare_to", "nothing"), False),
            ("mixed_models.time_only.compare_to: no model named 'nothing'",),
        ),
        Case(
            "config_unknown_sr_level",
            "config",
            fail,
            configured(_top("sr.per_wave.level", "weekly"), False),
            ("sr.per_wave.level: 'weekly' is not allowed",),
        ),
        Case(
            "config_trajectory_of_period_sr",
            "config",
            fail,
            configured(_sr_trajectory, False),
            ("trajectories.problems.variable", "level period"),
        ),
        Case(
            "config_time_axis_without_time",
            "config",
            fail,
            configured(_no_time, False),
            ("trajectories.problems.time",),
        ),
        Case(
            "config_wide_pattern_format_field",
            "config",
            fail,
            _wide_pattern_format,
            ("wide_pattern", "{__class__}"),
        ),
        Case(
            "config_billion_laughs", "config", fail, config_text(_billion_laughs), ("YAML aliases",)
        ),
        Case("config_deep_nesting", "config", fail, config_text(_deep), ("nesting deeper than",)),
        Case("config_too_large", "config", fail, config_text(_huge), ("a config is at most",)),
        Case("config_python_tag", "config", fail, config_text(_python_tag), ("not valid YAML",)),
        Case(
            "config_not_a_mapping",
            "config",
            fail,
            config_text(_not_a_mapping),
            ("must be a mapping",),
        ),
        Case("config_empty", "config", fail, _empty_config, ("must be a mapping",)),
        Case(
            "config_duplicated_yaml_key",
            "config",
            fail,
            config_text(_duplicated_key),
            ("key 'seed' given twice in one mapping", "line 2", "first on line 1"),
        ),
        Case(
            "config_wave_is_participant",
            "config",
            fail,
            configured(_set("columns.wave", "subject_id"), False),
            ("cohorts.corpus.columns.wave: 'subject_id' is also columns.participant",),
        ),
        Case(
            "config_covariate_is_wave",
            "config",
            fail,
            configured(_set("columns.covariates", {"wave": "integer"}), False),
            ("cohorts.corpus.columns.covariates.wave: 'wave' is also columns.wave",),
        ),
        Case(
            "config_careless_unknown_instrument",
            "config",
            fail,
            configured(_set("careless", {"instruments": ["ghq"]}), False),
            ("cohorts.corpus.careless.instruments: no instrument named 'ghq'",),
        ),
        Case(
            "config_delimiter_two_characters",
            "config",
            fail,
            configured(_set("delimiter", ";;"), False),
            ("cohorts.corpus.delimiter",),
        ),
        Case("config_is_a_folder", "config", fail, _config_folder, ("is a folder",)),
        Case("config_code_in_strings", "config", ok, configured(_code_everywhere)),
        Case(
            "config_code_as_column_name",
            "config",
            fail,
            configured(_set("columns.participant", CODE), False),
            ("columns.participant names column",),
        ),
        Case(
            "config_code_as_input",
            "config",
            fail,
            configured(_set("input", f"data.csv; touch {CANARY}"), False),
            ("input file not found",),
        ),
        Case(
            "config_code_as_prefix",
            "config",
            fail,
            configured(
                lambda c: cohort_of(c)["instruments"]["life_events"].__setitem__(
                    "items", {"prefix": CODE}
                ),
                False,
            ),
            ("instruments.life_events.items: prefix", "matches no column"),
        ),
        Case(
            "config_code_as_reverse_item",
            "config",
            fail,
            configured(
                lambda c: cohort_of(c)["instruments"]["ghq12"].__setitem__("reverse", [CODE]), False
            ),
            ("instruments.ghq12.reverse", "not among the instrument's items"),
        ),
        Case(
            "config_code_as_encoding",
            "config",
            fail,
            configured(_set("encoding", CODE), False),
            ("cohorts.corpus.encoding: unknown encoding",),
        ),
        Case(
            "config_code_as_covariate",
            "config",
            fail,
            configured(_set("columns.covariates", {CODE: "category"}), False),
            ("columns.covariates.", "names column"),
        ),
        Case(
            "config_code_as_sheet",
            "config",
            fail,
            lambda folder: _with(excel(lambda p: None)(folder), _set("sheet", CODE)),
            ("no sheet", "sheets in the file: cohort"),
        ),
        Case(
            "config_code_as_regex",
            "config",
            fail,
            configured(
                lambda c: cohort_of(c)["instruments"]["hassles"].__setitem__(
                    "items", {"regex": f"(?{{system('touch {CANARY}')}})"}
                ),
                False,
            ),
            ("instruments.hassles.items.regex", "not a valid regular expression"),
        ),
        Case(
            "dates_as_numbers_without_origin",
            "config",
            fail,
            framed(_numeric_dates("1970-01-01", 0), _set("columns.time_type", "date")),
            (*item, "column date", "time_parseable", "origin: '1970-01-01'"),
        ),
        Case(
            "dates_as_numbers_with_origin",
            "config",
            ok,
            framed(
                _numeric_dates("1970-01-01", 0),
                _set(
                    "columns.time",
                    {"column": "date", "type": "date", "origin": "1970-01-01", "unit": "days"},
                ),
            ),
        ),
        Case(
            "dates_as_excel_serials",
            "config",
            ok,
            framed(
                _numeric_dates("1899-12-30", 0),
                _set("columns.time", {"column": "date", "origin": "excel"}),
            ),
        ),
        # ---- analyses that cannot be fitted
        Case(
            "analysis_no_problem_answers",
            "analyses",
            fail,
            framed(_blank(lambda f: [c for c in f.columns if c.startswith("GHQ_")])),
            ("instruments.ghq12 (problems; items GHQ_01", "missing in all", "no item is answered"),
        ),
        Case(
            "analysis_sum_needs_an_unanswered_item",
            "analyses",
            fail,
            framed(
                _blank(lambda f: ["GE_04"]),
                _both(lambda c: cohort_of(c)["instruments"]["hassles"].__setitem__("score", "sum")),
            ),
            (
                "instruments.hassles",
                "GE_04 answered in no row, and score: sum needs every item",
                "E (exposure): missing in all",
            ),
        ),
        Case(
            "analysis_zmean_without_spread",
            "analyses",
            fail,
            framed(
                _blank(lambda f: [c for c in f.columns if c.startswith("LE_")], "0"),
                _set("exposure", {"combine": "zmean"}),
            ),
            ("E (exposure)", "zmean cannot z-score", "'life_events'"),
        ),
        Case(
            "analysis_constant_exposure",
            "analyses",
            ok,
            framed(_blank(lambda f: [c for c in f.columns if c[:3] in ("GE_", "LE_")], "1")),
        ),
        Case(
            "analysis_single_wave", "analyses", ok, framed(_drop_rows(lambda f: f["wave"] == "1"))
        ),
        Case(
            "analysis_two_participants",
            "analyses",
            ok,
            framed(_drop_rows(lambda f: f["subject_id"].isin(["S0001", "S0002"]))),
        ),
    ]
    slow = {
        "value_out_of_range",
        "file_ragged_short_row",
        "config_unknown_anchor_column",
        "config_item_anchor_column",
        "dates_as_numbers_with_origin",
        "analysis_constant_exposure",
    }
    for case in cases:
        case.slow = case.name in slow
    return cases


def _with(built: Built, configure: Callable[[dict], None]) -> Built:
    config = yaml.safe_load(built.config.read_text())
    configure(config)
    return Built(write_config(built.config.parent, config), built.n_rows)


CASES: list[Case] = _cases()


def build(case: Case, folder: Path) -> Built:
    """Write one case into ``folder`` (created) and return its config path and ledger size."""
    folder.mkdir(parents=True, exist_ok=True)
    return case.build(folder)


def config_copy(config: dict) -> dict:
    return copy.deepcopy(config)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for case in CASES:
        built = build(case, out / case.name)
        print(f"{case.name:45} {case.kind:9} {case.expect:5} {built.config}")
