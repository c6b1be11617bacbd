"""Dataset validation: a Great Expectations suite over a canonical dataset.

Checks that need more than one column or row (blank text, near-duplicates, texts shared between
splits, positives per category) are first computed with pandas into helper columns named
``check_*``; GE expectations then judge those columns, so every verdict, count and sample id
comes from one GE validation result, rendered as Data Docs and saved as JSON.

GE runs in an ephemeral (in-memory) context: nothing is written outside ``reports_dir``.

Reports hold no raw text: GE judges a copy of the frame in which every string (a text, an id, a
label value) longer than EXCERPT_CHARS is an excerpt that ends in "…#" and a digest of the whole
(distinct values keep distinct excerpts, so uniqueness holds on them; lengths are counted on the
whole texts beforehand). GE's own ``partial_unexpected_count`` keeps SAMPLE_ROWS example rows per
expectation, named by id with their text. Its ``exclude_unexpected_values`` would drop the
excerpts and list every failing id instead, so it is not used. A report folder that still
grows past REPORT_CAP_BYTES (thousands of columns) loses its Data Docs and GE's raw result.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from components.config import ValidationSettings
from components.data.canonical import (
    LABEL_PREFIX,
    SPLITS,
    DatasetCard,
    check_images,
    label_column,
    near_duplicate_key,
    read_dataset,
)
from components.errors import ModpipeError

# No internet here: keep GE usage analytics off; set before GE is imported, in case it reads it.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.checkpoint import UpdateDataDocsAction  # noqa: E402
from great_expectations.core import ExpectationSuiteValidationResult  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations import Expectation  # noqa: E402

REPORT_FILE = "validation.json"
DOCS_FOLDER = "data_docs"
DOCS_SITE = "reports"
REQUIRED_COLUMNS = ("id", "text", "source")
SUMMARY_IDS = 5
SAMPLE_ROWS = 10  # example rows per failed expectation
EXCERPT_CHARS = 80  # the longest string a report shows
DIGEST_CHARS = 12
REPORT_CAP_BYTES = 8 << 20  # Data Docs' fixed assets (fonts, images) take about 4 MB of it

CHECK_PREFIX = "check_"
TEXT_STRIPPED = CHECK_PREFIX + "text_stripped"
TEXT_LENGTH = CHECK_PREFIX + "text_length"
REPEATS_EARLIER_KEY = CHECK_PREFIX + "repeats_earlier_key"
IN_SEVERAL_SPLITS = CHECK_PREFIX + "in_several_splits"
POSITIVE_PREFIX = CHECK_PREFIX + "positive_"


class ExpectationFailure(BaseModel):
    expectation: str
    column: str | None
    failed_rows: int
    sample_ids: list[str]
    excerpts: dict[str, str] = {}  # sample id -> an excerpt of its text
    detail: str


class ValidationReport(BaseModel):
    dataset: str
    rows: int
    success: bool
    failures: list[ExpectationFailure]
    json_path: Path
    docs_path: Path | None
    cut_values: int = 0  # strings longer than EXCERPT_CHARS, shown as excerpts

    def summary(self) -> str:
        verdict = "passed" if self.success else f"FAILED ({len(self.failures)} expectations)"
        lines = [f"Validation of '{self.dataset}' ({self.rows} rows): {verdict}"]
        for failure in self.failures:
            head = f"{failure.expectation} [{failure.column or 'table'}]"
            if failure.failed_rows:
                head += f": {failure.failed_rows} row{'s' if failure.failed_rows > 1 else ''}"
            if failure.sample_ids:
                head += f" (ids {', '.join(failure.sample_ids[:SUMMARY_IDS])})"
            lines.append(f"  - {head}: {failure.detail}")
        if self.cut_values:
            lines.append(
                f"  ({self.cut_values} values longer than {EXCERPT_CHARS} characters are cut in "
                "the reports, ending in '…#' and a digest)"
            )
        return "\n".join(lines)


def _excerpt(value: str) -> str:
    """``value`` if it is short, else its start, "…#" and a digest of the whole, in
    EXCERPT_CHARS characters: distinct values keep distinct excerpts."""
    if len(value) <= EXCERPT_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]
    return f"{value[: EXCERPT_CHARS - DIGEST_CHARS - 2]}…#{digest}"


def _bounded(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The frame GE judges: every string, and every container as JSON, an excerpt; and how
    many were cut."""
    cut = 0

    def shown(value):
        nonlocal cut
        if isinstance(value, (list, dict)):
            value = json.dumps(value, ensure_ascii=False, default=str)
        if not isinstance(value, str):
            return value
        cut += len(value) > EXCERPT_CHARS
        return _excerpt(value)

    bounded = frame.rename(columns=lambda name: _excerpt(str(name)))
    for column in bounded.select_dtypes(include=["object", "string"]).columns:
        counted = cut
        bounded[column] = bounded[column].map(shown, na_action="ignore")
        if column.startswith(CHECK_PREFIX):
            cut = counted  # a check column repeats a user column's values: count them once
    return bounded, cut


def _stripped_text(texts: pd.Series) -> pd.Series:
    """Texts without surrounding whitespace; missing, blank or non-string values become <NA>."""
    is_string = texts.map(lambda value: isinstance(value, str)).astype(bool)
    return texts.where(is_string).astype("string").str.strip().replace("", pd.NA)


def _in_several_splits(keys: pd.Series, splits: pd.Series) -> pd.Series:
    return splits.groupby(keys).transform("nunique").gt(1)


def _with_check_columns(frame: pd.DataFrame, card: DatasetCard) -> pd.DataFrame:
    checked = frame.copy()
    for name in card.names:
        if label_column(name) in frame:
            checked[POSITIVE_PREFIX + name] = frame[label_column(name)].isin([1]).astype("int64")
    if "text" not in frame:
        return checked
    checked[TEXT_STRIPPED] = _stripped_text(frame["text"])
    checked[TEXT_LENGTH] = checked[TEXT_STRIPPED].str.len()  # of the whole text, not its excerpt
    keys = near_duplicate_key(checked[TEXT_STRIPPED])
    checked[REPEATS_EARLIER_KEY] = keys.duplicated() & keys.notna()
    if "split" in frame:
        checked[IN_SEVERAL_SPLITS] = _in_several_splits(
            checked[TEXT_STRIPPED], frame["split"]
        ) | _in_several_splits(keys, frame["split"])
    return checked


def _about(column: str, description: str) -> dict:
    """Expectation keywords for a check column: the user-facing column it reports on."""
    return {"description": description, "meta": {"reported_column": column}}


def _expectations(
    card: DatasetCard, columns: list[str], settings: ValidationSettings
) -> list[Expectation]:
    """The suite; expectations on absent columns are dropped (their existence check fails)."""
    ex = gx.expectations
    taxonomy_labels = [label_column(name) for name in card.names]
    other_columns = [c for c in columns if not c.startswith(LABEL_PREFIX)]
    schema = [
        ex.ExpectColumnToExist(column=column, description="a required column")
        for column in (*REQUIRED_COLUMNS, *taxonomy_labels)
    ] + [
        ex.ExpectTableColumnsToMatchSet(
            column_set=other_columns + [c for c in taxonomy_labels if c in columns],
            exact_match=True,
            description=f"no label columns outside the taxonomy ({', '.join(card.names)})",
        )
    ]
    rows = [
        ex.ExpectColumnValuesToNotBeNull(column="id", description="every row has an id"),
        ex.ExpectColumnValuesToBeUnique(column="id", description="ids are unique"),
        ex.ExpectColumnValuesToNotBeNull(column="source", description="every row has a source"),
        ex.ExpectColumnValuesToNotBeNull(
            column=TEXT_STRIPPED, **_about("text", "text is a non-blank string")
        ),
        ex.ExpectColumnValuesToBeBetween(
            column=TEXT_LENGTH,
            min_value=settings.min_chars,
            max_value=settings.max_chars,
            **_about("text", f"text has {settings.min_chars} to {settings.max_chars} characters"),
        ),
        ex.ExpectColumnValuesToBeUnique(
            column=TEXT_STRIPPED, **_about("text", "no exact duplicate texts")
        ),
        ex.ExpectColumnValuesToBeInSet(
            column=REPEATS_EARLIER_KEY,
            value_set=[False],
            mostly=1.0 - settings.max_near_duplicate_fraction,
            **_about(
                "text",
                f"at most {settings.max_near_duplicate_fraction:.1%} of rows repeat an earlier "
                "text once normalised (near-duplicates)",
            ),
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="split", value_set=list(SPLITS), description=f"split is one of {SPLITS}"
        ),
        ex.ExpectColumnValuesToBeInSet(
            column=IN_SEVERAL_SPLITS,
            value_set=[False],
            **_about("split", "no text (exact or normalised) is in more than one split"),
        ),
    ]
    for name in card.names:
        rows += [
            ex.ExpectColumnValuesToBeInSet(
                column=label_column(name),
                value_set=[0, 1],
                description=f"{name} labels are 0, 1 or null (unknown)",
            ),
            ex.ExpectColumnSumToBeBetween(
                column=POSITIVE_PREFIX + name,
                min_value=settings.min_positives,
                **_about(label_column(name), f"at least {settings.min_positives} {name} positives"),
            ),
        ]
    return schema + [e for e in rows if e.column in columns]


def _context(docs_dir: Path):
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        data_docs_sites={
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _run_suite(
    frame: pd.DataFrame, expectations: list[Expectation], docs_dir: Path
) -> ExpectationSuiteValidationResult:
    """Validate the frame in a fresh in-memory context and write its Data Docs to docs_dir."""
    context = _context(docs_dir)
    batch = (
        context.data_sources.add_pandas("canonical")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    suite = context.suites.add(
        gx.ExpectationSuite(name="canonical_dataset", expectations=expectations)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="canonical_dataset", data=batch, suite=suite)
    )
    # The id column names the failing rows (without one, GE only counts them), with their text.
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
    if "id" in frame:
        named_by = ["id", "text"] if "text" in frame else ["id"]
        result_format["unexpected_index_column_names"] = named_by
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="validate_dataset",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])],
            result_format=result_format,
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    return next(iter(result.run_results.values()))


def _exception_messages(exception_info: dict) -> list[str]:
    """GE reports one exception flat, or several keyed by the metric that raised them."""
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    return sorted({info["exception_message"] for info in infos if info.get("raised_exception")})


def _observation(result: ExpectationValidationResult) -> str:
    outcome = result.result
    errors = _exception_messages(result.exception_info or {})
    if errors:
        return f"could not be checked: {'; '.join(errors)}"
    mismatched = outcome.get("details", {}).get("mismatched", {})
    if mismatched:
        return "; ".join(f"{kind} columns: {_some(names)}" for kind, names in mismatched.items())
    if "unexpected_count" in outcome:
        return f"{outcome['unexpected_percent']:.3g}% of checked rows fail"
    if "observed_value" in outcome:
        return f"observed {outcome['observed_value']}"
    return "column not found"


def _some(names: list[str]) -> str:
    more = f" and {len(names) - SAMPLE_ROWS} more" if len(names) > SAMPLE_ROWS else ""
    return ", ".join(names[:SAMPLE_ROWS]) + more


def _failure(result: ExpectationValidationResult) -> ExpectationFailure:
    config = result.expectation_config
    indexed_rows = result.result.get("partial_unexpected_index_list") or []
    excerpts = {str(row["id"]): row.get("text") for row in indexed_rows}
    return ExpectationFailure(
        expectation=config.type,
        column=config.meta.get("reported_column", config.kwargs.get("column")),
        failed_rows=result.result.get("unexpected_count", 0),
        sample_ids=list(excerpts),
        excerpts={id_: text for id_, text in excerpts.items() if isinstance(text, str)},
        detail=f"expected {config.description}; {_observation(result)}",
    )


def validate_frame(
    card: DatasetCard,
    frame: pd.DataFrame,
    reports_dir: Path,
    settings: ValidationSettings = ValidationSettings(),
) -> ValidationReport:
    """Run the suite on a canonical frame; write validation.json and Data Docs to reports_dir."""
    reports_dir = Path(reports_dir).resolve()  # GE's Data Docs store wants an absolute path
    docs_dir = reports_dir / DOCS_FOLDER
    checked, cut_values = _bounded(_with_check_columns(frame, card))
    try:
        shutil.rmtree(docs_dir, ignore_errors=True)  # pages of an earlier run would linger
        reports_dir.mkdir(parents=True, exist_ok=True)
        result = _run_suite(checked, _expectations(card, list(checked.columns), settings), docs_dir)
        report = ValidationReport(
            dataset=card.name,
            rows=len(frame),
            success=result.success,
            failures=[_failure(r) for r in result.results if not r.success],
            json_path=reports_dir / REPORT_FILE,
            docs_path=docs_dir / "index.html",
            cut_values=cut_values,
        )
        document = {
            **report.model_dump(mode="json"),
            "settings": settings.model_dump(),
            "great_expectations": result.to_json_dict(),
        }
        _write_json(report.json_path, document)
        if _folder_bytes(docs_dir) + report.json_path.stat().st_size > REPORT_CAP_BYTES:
            shutil.rmtree(docs_dir)
            report.docs_path = None
            left_out = f"left out, with the Data Docs: they outgrew {REPORT_CAP_BYTES:,} bytes"
            document.update(docs_path=None, great_expectations=left_out)
            _write_json(report.json_path, document)
    except OSError as err:
        raise ModpipeError(f"{reports_dir}: cannot write the validation reports ({err})") from None
    return report


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), "utf-8")


def validate_dataset(
    directory: Path, reports_dir: Path, settings: ValidationSettings = ValidationSettings()
) -> ValidationReport:
    """Validate the dataset folder's rows; a row whose image is not a file inside the folder
    is refused at once (a ModpipeError naming the row): no report could judge a missing file."""
    card, frame = read_dataset(directory)
    check_images(directory, frame)
    return validate_frame(card, frame, reports_dir, settings)


def summary_html(reports: list[ValidationReport]) -> str:
    """A one-file page for the KFP UI (the Data Docs site spans many files): one section per
    validated dataset (a mixture's sources, then the merged set)."""
    import html

    sections = []
    for report in reports:
        rows = "".join(
            f"<tr><td>{html.escape(f.expectation)}</td><td>{html.escape(f.column or '')}</td>"
            f"<td>{f.failed_rows}</td>"
            f"<td>{html.escape(', '.join(f.sample_ids[:SUMMARY_IDS]))}</td></tr>"
            for f in report.failures
        )
        verdict = "passed" if report.success else "FAILED"
        table = (
            "<table border=1 cellpadding=4><tr><th>expectation</th><th>column</th><th>rows</th>"
            f"<th>ids</th></tr>{rows}</table>"
            if rows
            else "<p>Every expectation holds.</p>"
        )
        sections.append(
            f"<h1>Validation {verdict}: {html.escape(report.dataset)}, {report.rows:,} rows</h1>"
            + table
        )
    return f"<html><body style='font-family:sans-serif'>{''.join(sections)}</body></html>"
