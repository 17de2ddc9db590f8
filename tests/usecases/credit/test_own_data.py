"""Lenders' own exports: `nexafi-ai train credit --data` and `nexafi-ai batch credit`.

The export is the built-in generator's applicants written the way a loan system writes them
(Lending-Club style): the lender's own column names, utilisation as "57.3%", terms as
" 36 months", employment length as "10+ years" / "< 1 year" / "n/a", incomes with thousands
separators, issue dates as "Dec-2015", a pricing grade of the lender's own, and the label as
loan_status with loans still running ("Current"). Because the data comes from the generator,
the model trained on it must reach about what the built-in data gives (held-out ROC-AUC ~0.85
on these 3,000 rows, against ~0.82 if those columns were read as text).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nexafi_ai.cli import app
from nexafi_ai.io import read_table
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.credit import USE_CASE as CREDIT
from nexafi_ai.usecases.credit.data import (
    COERCED_ATTR,
    NUMERIC_SHARE,
    conform,
    infer_features,
    labels_from,
    parse_number,
    standardise_applicants,
)
from nexafi_ai.usecases.credit.generator import ApplicantConfig, generate_applicants
from nexafi_ai.usecases.credit.model import SCORE_COLUMNS
from nexafi_ai.usecases.credit.scaling import FeatureSpec

runner = CliRunner()

#: Held-out (out-of-time) ROC-AUC measured on the seed-5 export below: 0.851 for the scorecard,
#: 0.847 for LightGBM (0.850 / 0.840 on the built-in data of the same seed and size). The floor
#: leaves room for solver and library differences, and fails if the coerced columns were read
#: as text again (0.816 / 0.792).
AUC_FLOOR = 0.825
CURRENT_ROWS = 60
MAPPING = ["--column", "protected_group=applicant_group"]


def _flat(output: str) -> str:
    """The CLI's text without the line breaks rich adds at the terminal width."""
    return " ".join(output.split())


def _emp_length(years: np.ndarray) -> np.ndarray:
    """Lending Club's employment length: "< 1 year", "1 year", "2 years"... "10+ years", "n/a"."""
    whole = np.floor(np.nan_to_num(years)).astype(int)
    text = np.char.add(whole.astype(str), np.where(whole == 1, " year", " years"))
    text = np.where(years < 1, "< 1 year", np.where(years >= 10, "10+ years", text))
    return np.where(np.isnan(years), "n/a", text)


def lender_export(seed: int, n: int = 3000, current: int = CURRENT_ROWS) -> pd.DataFrame:
    """The generator's applicants as a lender's loan-system export (see the module docstring).

    ``grade`` is the lender's own pricing grade: a noisy draw of the applicant's risk from
    their bureau data, cut in seven bands (A best). The newest ``current`` loans are still
    running, as in a real export, so they have no final outcome.
    """
    data = generate_applicants(ApplicantConfig(n_applicants=n, seed=seed))
    rng = np.random.default_rng(seed + 1000)
    income = data["annual_income"].to_numpy()
    risk = (
        1.6 * data["debt_to_income"]
        + 1.5 * data["revolving_utilization"]
        + 0.45 * np.minimum(data["delinquencies_2y"], 4)
        + 0.14 * np.minimum(data["recent_inquiries_6m"], 6)
        - 0.45 * np.log(np.nan_to_num(income, nan=40_000.0) / 50_000.0)
        + rng.normal(0.0, 0.6, n)
    )
    status = np.where(data["defaulted"] == 1, "Charged Off", "Fully Paid").astype(object)
    status[n - current :] = "Current"
    return pd.DataFrame(
        {
            "id": np.arange(1_000_001, 1_000_001 + n),
            "issue_d": data["application_date"].dt.strftime("%b-%Y"),
            "borrower_age": data["age"],
            "annual_inc": ["" if np.isnan(v) else f"{v:,.0f}" for v in income],
            "emp_status": data["employment_status"],
            "emp_length": _emp_length(data["employment_length_years"].to_numpy()),
            "dti": (data["debt_to_income"] * 100).round(2),
            "revol_util": [f"{v * 100:.1f}%" for v in data["revolving_utilization"]],
            "delinq_2yrs": data["delinquencies_2y"],
            "mths_since_last_delinq": data["months_since_last_delinquency"],
            "cr_hist": [f"{v:.1f} yrs" for v in data["credit_history_years"]],
            "open_acc": data["open_accounts"],
            "inq_last_6mths": data["recent_inquiries_6m"],
            "loan_amnt": data["loan_amount"],
            "term": np.where(data["term_months"] == 36, " 36 months", " 60 months"),
            "purpose": data["purpose"],
            "home_ownership": data["home_ownership"].str.upper(),
            "grade": pd.qcut(risk, 7, labels=list("ABCDEFG")).astype(str),
            "applicant_group": data["protected_group"],
            "loan_status": status,
        }
    )


@pytest.fixture(scope="module")
def export_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seed-5 export as CSV and Parquet, and a later seed-6 batch to score (no label)."""
    folder = tmp_path_factory.mktemp("lender")
    export = lender_export(seed=5)
    paths = {"csv": folder / "loans.csv", "parquet": folder / "loans.parquet"}
    export.to_csv(paths["csv"], index=False)
    export.to_parquet(paths["parquet"], index=False)
    incoming = lender_export(seed=6, n=800, current=0).drop(columns=["loan_status"])
    # Another system, another date layout; and not in date order: the output must keep it.
    incoming["issue_d"] = pd.to_datetime(incoming["issue_d"], format="%b-%Y").dt.strftime(
        "%Y-%m-%d"
    )
    incoming = incoming.sample(frac=1.0, random_state=0).reset_index(drop=True)
    paths["batch"] = folder / "incoming.csv"
    incoming.to_csv(paths["batch"], index=False)
    return paths


# ------------------------------------------------------------------------------ end to end
def _train_args(path: Path, *options: str) -> list[str]:
    args = ["train", "credit", "--data", str(path), "--target", "loan_status"]
    args += ["--time-column", "issue_d", *MAPPING, "--promote", "champion"]
    for option in options:
        args += ["--option", option]
    return args


# The training run takes most of this file's time and exercises nothing database-specific
# (the registry and the audit log are tested on both databases elsewhere): SQLite only.
# LightGBM only, for now: with the scorecard among the candidates, registering fails while the
# scorecard leaves out a low-IV column (see test_default_candidates_train_on_a_lender_export).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_train_on_a_lender_export_then_batch_score(
    cli_env: Settings, registry: ModelRegistry, export_files: dict[str, Path], tmp_path: Path
) -> None:
    args = _train_args(export_files["csv"], "models=lightgbm", "cv_folds=2")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    output = _flat(result.output)
    assert "held-out metric" in output
    assert re.search(r"roc_auc │ 0\.\d{4}", output), output
    assert "nexafi-credit version 1 registered" in output

    version = registry.alias_version("nexafi-credit", "champion")
    assert version == "1"
    info = registry.get_version("nexafi-credit", version)
    assert info.metrics["roc_auc"] > AUC_FLOOR, info.metrics
    assert info.metrics["cv_roc_auc_mean"] > AUC_FLOOR - 0.05, info.metrics
    metadata = registry.fetch("nexafi-credit", version).manifest["metadata"]
    assert metadata["training_data"]["rows"] == 3000 - CURRENT_ROWS  # running loans left out
    assert metadata["split"]["kind"] == "out_of_time"
    assert metadata["split"]["test"]["to"].startswith("2024-12-01")  # "Dec-2024", 1st of month
    assert metadata["reports"]["fairness"]["attribute"] == "protected_group"
    features = {f["name"]: f["kind"] for f in metadata["features"]}
    # The lender's own names, read the right way; never the id, date, label or group.
    assert features == {
        "borrower_age": "numeric",
        "annual_inc": "numeric",
        "emp_status": "categorical",
        "emp_length": "numeric",
        "dti": "numeric",
        "revol_util": "numeric",
        "delinq_2yrs": "numeric",
        "mths_since_last_delinq": "numeric",
        "cr_hist": "numeric",
        "open_acc": "numeric",
        "inq_last_6mths": "numeric",
        "loan_amnt": "numeric",
        "term": "numeric",
        "purpose": "categorical",
        "home_ownership": "categorical",
        "grade": "categorical",
    }

    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app, ["batch", "credit", "--input", str(export_files["batch"]), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    incoming = pd.read_csv(export_files["batch"])
    scored = pd.read_csv(out)
    assert list(scored.columns) == [*incoming.columns, *SCORE_COLUMNS]
    pd.testing.assert_frame_equal(scored[incoming.columns], incoming)  # every row, in order
    scored["reasons"] = scored["reasons"].fillna("")
    pd_ = scored["probability_of_default"].astype(float)
    assert pd_.between(0.0, 1.0).all()
    assert set(scored["decision"]) == {"approve", "decline"}
    declined = scored["decision"] == "decline"
    assert pd_[declined].min() > pd_[~declined].max()  # one cutoff on PD
    assert (scored.loc[~declined, "reasons"] == "").all()
    codes = scored.loc[declined, "reasons"].str.split(";")
    assert codes.map(len).between(1, 4).all()
    assert codes.map(lambda c: all(re.fullmatch(r"C[RU]\d\d", x) for x in c)).all()
    assert (np.diff(scored.sort_values("probability_of_default")["score"]) <= 0).all()
    assert scored["risk_band"].ne("").all()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_default_candidates_train_on_a_lender_export(
    cli_env: Settings, registry: ModelRegistry, export_files: dict[str, Path]
) -> None:
    result = runner.invoke(app, _train_args(export_files["csv"], "cv_folds=0"))
    assert result.exit_code == 0, result.output
    assert "nexafi-credit version 2 registered" in _flat(result.output)
    info = registry.get_version("nexafi-credit", "2")
    assert info.metrics["roc_auc"] > AUC_FLOOR, info.metrics  # 0.851 measured (scorecard)


def test_csv_and_parquet_read_the_same_way(export_files: dict[str, Path]) -> None:
    frames = [
        CREDIT.prepare_data(
            read_table(export_files[kind]),
            target="loan_status",
            time_column="issue_d",
            mapping={"protected_group": "applicant_group"},
        )
        for kind in ("csv", "parquet")
    ]
    csv, parquet = frames
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    assert csv.attrs[COERCED_ATTR] == parquet.attrs[COERCED_ATTR]
    assert csv.attrs[COERCED_ATTR] == {
        "annual_inc": "number",
        "emp_length": "number of years",
        "revol_util": "number (percent sign dropped)",
        "cr_hist": "number of years",
        "term": "number of months",
    }
    assert len(csv) == 3000 - CURRENT_ROWS
    assert csv["revol_util"].head(3).tolist() == pytest.approx([73.5, 9.6, 13.0])
    assert csv["annual_inc"].head(3).tolist() == [54_100.0, 78_000.0, 65_700.0]
    assert csv["application_date"].iloc[0] == pd.Timestamp("2023-01-01", tz="UTC")
    specs = {f.name: f.kind for f in infer_features(csv)}
    assert specs["borrower_age"] == "numeric"
    assert specs["purpose"] == "categorical"


# ------------------------------------------------------------------------------ bad input
def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small_export() -> pd.DataFrame:
    return lender_export(seed=7, n=300, current=10)


def test_a_missing_target_column_is_named(
    cli_env: Settings, small_export: pd.DataFrame, tmp_path: Path
) -> None:
    path = _write(tmp_path / "loans.csv", small_export)
    result = runner.invoke(app, ["train", "credit", "--data", str(path), "--target", "status"])
    assert result.exit_code == 2
    assert "--target status: no such column" in _flat(result.output)
    assert "loan_status" in _flat(result.output)  # the hint lists the file's columns


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        (["OK", "KO"], None, "target 'loan_status' has values ['ko', 'ok'] not recognised"),
        (["Fully Paid", "Charged Off"], "Written Off", "never occurs in target 'loan_status'"),
        (["Fully Paid", "Current"], None, "target 'loan_status' has no value meaning default"),
        ([0, 0], None, "target 'loan_status' has a single class (300 rows, all good)"),
        ([1, 2], None, "target 'loan_status' has values ['1.0', '2.0'], not only 0/1"),
    ],
    ids=["unrecognised", "absent-positive-label", "no-bad-value", "single-class", "not-binary"],
)
def test_unusable_targets_are_refused_naming_the_column(
    cli_env: Settings,
    small_export: pd.DataFrame,
    tmp_path: Path,
    values: list[object],
    positive: str | None,
    expected: str,
) -> None:
    frame = small_export.assign(loan_status=np.resize(np.asarray(values, dtype=object), 300))
    path = _write(tmp_path / "loans.csv", frame)
    args = ["train", "credit", "--data", str(path), "--target", "loan_status"]
    if positive is not None:
        args += ["--positive-label", positive]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in _flat(result.output)


def test_card_numbers_and_other_files_are_refused(
    cli_env: Settings, small_export: pd.DataFrame, tmp_path: Path
) -> None:
    # Read back from CSV as 16-digit integers: the check must not rely on text.
    frame = small_export.assign(card_no=4111111111111111)
    path = _write(tmp_path / "loans.csv", frame)
    args = ["train", "credit", "--data", str(path), "--target", "loan_status"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "column 'card_no' holds full card numbers" in _flat(result.output)
    assert "4111111111111111" not in result.output

    grouped = small_export.assign(note="")
    grouped.loc[150, "note"] = "paid with 5555 5555 5555 4444"
    result = runner.invoke(
        app, ["train", "credit", "--data", str(_write(path, grouped)), "--target", "loan_status"]
    )
    assert result.exit_code == 2
    assert "column 'note' holds full card numbers (first at data row 151)" in _flat(result.output)

    sheet = tmp_path / "loans.xlsx"
    sheet.write_bytes(b"PK\x03\x04 not really a workbook")
    result = runner.invoke(app, ["train", "credit", "--data", str(sheet), "--target", "x"])
    assert result.exit_code == 2
    assert "loans.xlsx: expected a .csv or .parquet file" in _flat(result.output)


def test_bad_dates_and_mappings_are_named(
    cli_env: Settings, small_export: pd.DataFrame, tmp_path: Path
) -> None:
    path = _write(tmp_path / "loans.csv", small_export.assign(issue_d="sometime"))
    args = ["train", "credit", "--data", str(path), "--target", "loan_status"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    # 290: the ten running loans were left out before the dates were read.
    assert "column 'issue_d': 290 application dates could not be parsed" in _flat(result.output)
    result = runner.invoke(app, [*args, "--time-column", "opened"])
    assert result.exit_code == 2
    assert "--time-column opened: no such column" in _flat(result.output)
    result = runner.invoke(app, [*args, "--column", "protected_group=race"])
    assert result.exit_code == 2
    assert "--column protected_group=race: no column 'race'" in _flat(result.output)


# ------------------------------------------------------------------------------ reading
def _read(**columns: list[object]) -> pd.DataFrame:
    return standardise_applicants(pd.DataFrame(columns))


def test_numbers_written_for_people_are_read_as_numbers() -> None:
    frame = _read(
        util=["57.3%", "85%", "n/a", "", "100.1 %", None],
        term=[" 36 months", "60 months", "36 MONTHS", "n/a", "60 months ", "36 months"],
        emp=["10+ years", "< 1 year", "1 year", "n/a", "3 years", "2 yrs"],
        income=["52,000", "1,234,567.50", "$40,000", "", "7000", "NULL"],
        signed=["-3", "+4.5", ".5", "1e3", "0", "12"],
    )
    assert frame["util"].tolist() == pytest.approx(
        [57.3, 85.0, np.nan, np.nan, 100.1, np.nan], nan_ok=True
    )
    assert frame["term"].tolist() == pytest.approx([36, 60, 36, np.nan, 60, 36], nan_ok=True)
    assert frame["emp"].tolist() == pytest.approx([10, 0.5, 1, np.nan, 3, 2], nan_ok=True)
    assert frame["income"].tolist() == pytest.approx(
        [52_000, 1_234_567.5, 40_000, np.nan, 7_000, np.nan], nan_ok=True
    )
    assert frame["signed"].tolist() == [-3.0, 4.5, 0.5, 1000.0, 0.0, 12.0]
    assert frame.attrs[COERCED_ATTR] == {
        "util": "number (percent sign dropped)",
        "term": "number of months",
        "emp": "number of years",
        "income": "number",
        "signed": "number",
    }


def test_text_that_is_not_numbers_stays_categorical() -> None:
    n = 100
    share = int(NUMERIC_SHARE * n)  # 98 numbers and 2 words: still numbers, words missing
    mostly = [str(i) for i in range(share)] + ["see notes"] * (n - share)
    fewer = [str(i) for i in range(share - 1)] + ["see notes"] * (n - share + 1)
    frame = _read(
        mostly=mostly,
        fewer=fewer,
        grade=(["A1", "B2", "C3", "  D4 ", ""] * 20),
        comma=(["13,5", "7,25"] * 50),  # decimal commas are not thousands separators
        units=(["3 years", "36 months"] * 50),  # mixed units: not comparable numbers
        zip3=(["941xx", "100xx"] * 50),
    )
    assert frame["mostly"].dtype == float
    assert frame["mostly"].isna().sum() == n - share
    for column in ("fewer", "grade", "comma", "units", "zip3"):
        assert not pd.api.types.is_numeric_dtype(frame[column]), column
    # Categories lose surrounding blanks (as the real-time schema strips them); blank is missing.
    assert frame["grade"].head(5).tolist()[:4] == ["A1", "B2", "C3", "D4"]
    assert pd.isna(frame["grade"].iloc[4])
    assert frame.attrs[COERCED_ATTR] == {"mostly": "number"}
    specs = {f.name: f.kind for f in infer_features(frame.assign(defaulted=[0, 1] * 50))}
    assert specs["grade"] == "categorical"
    assert specs["mostly"] == "numeric"


def test_booleans_dates_and_missing_spellings() -> None:
    frame = _read(
        flag=["Y", "N", "y", "", "n", None],
        truth=[True, False, True, None, False, True],
        opened=["Mar-1998", "Dec-2015", "n/a", "Jan-2001", "Feb-1990", "Jul-2007"],
        iso=["2015-12-01", "2016-01-31 10:00:00", "", "2001-05-05", "1999-01-01", "2020-02-29"],
        status=["n/a", "employed", "n/a", "retired", "", "employed"],
    )
    assert frame["flag"].tolist() == pytest.approx([1, 0, 1, np.nan, 0, np.nan], nan_ok=True)
    assert frame["truth"].tolist() == pytest.approx([1, 0, 1, np.nan, 0, 1], nan_ok=True)
    assert frame["opened"].iloc[0] == pd.Timestamp("1998-03-01", tz="UTC")
    assert frame["opened"].isna().tolist() == [False, False, True, False, False, False]
    assert frame["iso"].iloc[1] == pd.Timestamp("2016-01-31 10:00", tz="UTC")
    # In a categorical column "n/a" is a category (it may mean "no job"); only blanks are missing.
    assert frame["status"].tolist()[:4] == ["n/a", "employed", "n/a", "retired"]
    assert pd.isna(frame["status"].iloc[4])
    # Dates are never model inputs.
    names = [f.name for f in infer_features(frame.assign(defaulted=[0, 1] * 3))]
    assert "opened" not in names
    assert "iso" not in names


def test_application_dates_in_the_layouts_lenders_use() -> None:
    def dates(values: list[object]) -> list[str]:
        frame = standardise_applicants(pd.DataFrame({"issue_d": values, "x": range(len(values))}))
        return [str(d.date()) if pd.notna(d) else "NaT" for d in frame["application_date"]]

    assert dates(["Dec-2015", "Jan-2016"]) == ["2015-12-01", "2016-01-01"]
    assert dates(["2015-12-01", "2016-01-02T03:04:05Z"]) == ["2015-12-01", "2016-01-02"]
    assert dates(["12/01/2015", "01/02/2016"]) == ["2015-12-01", "2016-01-02"]  # month first
    assert dates(["13/01/2015", "01/02/2016"]) == ["2015-01-13", "2016-02-01"]  # a day > 12
    assert dates([20151201, 20160102]) == ["2015-12-01", "2016-01-02"]
    assert dates([1_450_000_000, 1_450_086_400]) == ["2015-12-13", "2015-12-14"]  # seconds
    # Scoring does not use the date: one that is not a date is blank, not a failed file.
    assert dates(["Dec-2015", "soon", ""]) == ["2015-12-01", "NaT", "NaT"]


def test_the_scalar_reader_agrees_with_the_column_reader() -> None:
    texts = ["13.56%", " 36 months", "10+ years", "< 1 year", "$1,200", "1,234,567.5", "2 yrs."]
    texts += ["-4", "1e3", "5 USD", "n/a", "", "A1", "13,5", "3 parsecs", "50% years", "<0"]
    # conform parses a model's numeric feature with the column reader, whatever the share.
    column = conform(pd.DataFrame({"v": texts}), [FeatureSpec("v")])["v"]
    scalar = [parse_number(t) for t in texts]
    assert [None if np.isnan(v) else v for v in column] == scalar
    assert scalar[:10] == [13.56, 36.0, 10.0, 0.5, 1200.0, 1_234_567.5, 2.0, -4.0, 1000.0, 5.0]
    assert scalar[10:16] == [None] * 6
    assert scalar[16] == 0.0  # "< 0": no positive range to halve


def test_conform_gives_the_model_the_kinds_it_learned() -> None:
    features = [FeatureSpec("util"), FeatureSpec("branch", "categorical")]
    # A batch where util fell under the share (odd values) and branch was read as integers.
    batch = pd.DataFrame({"util": ["57.3%", "see notes", "12%"], "branch": [12, 7, np.nan]})
    out = conform(batch, features)
    assert out["util"].tolist() == pytest.approx([57.3, np.nan, 12.0], nan_ok=True)
    assert out["branch"].tolist() == ["12", "7", None]
    assert batch["util"].tolist()[0] == "57.3%"  # the input is left alone


def test_ids_and_saved_indexes_are_not_features() -> None:
    n = 1200
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "Unnamed: 0": np.arange(n),
            "loan_no": rng.permutation(np.arange(10_000, 10_000 + 5 * n, 5)),
            "balance_cents": rng.integers(0, 10**9, n),
            "income": rng.normal(50_000, 10_000, n).round(),
            "defaulted": rng.integers(0, 2, n),
        }
    )
    names = [f.name for f in infer_features(standardise_applicants(frame))]
    assert names == ["balance_cents", "income"]


# ------------------------------------------------------------------------------ labels
@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        (["Fully Paid", "Charged Off", "Current", None, " "], None, [0, 1, None, None, None]),
        (["Fully Paid", "Charged Off", "Current", None], "charged off", [0, 1, 0, None]),
        (["good", "BAD", "bad "], None, [0, 1, 1]),
        (
            ["Late (31-120 days)", "In Grace Period", "Default", "Issued"],
            None,
            [None, None, 1, None],
        ),
        (
            [
                "Does not meet the credit policy. Status:Fully Paid",
                "Does not meet the credit policy. Status:Charged Off",
            ],
            None,
            [0, 1],
        ),
        (["charged_off", "fully-paid", "No", "yes"], None, [1, 0, 0, 1]),
        ([True, False, None], None, [1, 0, None]),
        ([0.0, 1.0, np.nan], None, [0, 1, None]),
        ([1, 2, 2], "2", [0, 1, 1]),  # German credit: 2 = bad
        (["1", "0", "1"], None, [1, 0, 1]),
    ],
)
def test_labels_from(
    values: list[object], positive: str | None, expected: list[int | None]
) -> None:
    got = labels_from(pd.Series(values, name="y"), positive)
    assert [None if np.isnan(v) else int(v) for v in got] == expected


@pytest.mark.parametrize(
    ("values", "positive", "message"),
    [
        (["ok", "ko"], None, "target 'status' has values ['ko', 'ok'] not recognised"),
        (["ok", "ko"], "bad", "--positive-label 'bad' never occurs in target 'status'"),
        ([1, 2], None, "target 'status' has values ['1.0', '2.0'], not only 0/1"),
        (["Fully Paid", "Current"], None, "target 'status' has no value meaning default"),
        ([None, ""], None, "target 'status' is empty"),
    ],
)
def test_labels_from_refuses_naming_the_column(
    values: list[object], positive: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        labels_from(pd.Series(values, name="status"), positive)


def test_running_loans_count_as_good_only_when_asked() -> None:
    frame = pd.DataFrame(
        {
            "x": range(8),
            "loan_status": ["Fully Paid", "Charged Off", "Current", "Current"] * 2,
        }
    )
    default = standardise_applicants(frame, target="loan_status")
    assert len(default) == 4
    assert default["defaulted"].tolist() == [0, 1, 0, 1]
    explicit = standardise_applicants(frame, target="loan_status", positive_label="Charged Off")
    assert explicit["defaulted"].tolist() == [0, 1, 0, 0, 0, 1, 0, 0]
