"""The Label Studio round trip through a real Label Studio: `modpipe annotate export` of a batch
with the tiny model's pre-annotations, a project made with the generated config, the tasks
imported, two annotators' annotations submitted through the API, the project exported, and
`modpipe annotate import` of the export into a DVC-versioned dataset whose previous version
stays restorable."""

import json

import pandas as pd
import pytest
from conftest import modpipe
from labelstudio_server import label_studio, missing_reason
from repos import make_dvc_repo
from tiny_bento import TAXONOMY

from components.data.canonical import DatasetCard, read_dataset
from components.data.rationale import parse_rationale
from components.data.versioning import publish_dataset

pytestmark = pytest.mark.slow
TEXTS = {
    "r0": "nice game today",
    "r1": "you clown, send money now",
    "n0": "you clown",
    "n1": "i will find you tonight",
    "n2": "send money now to win",
    "n3": "hello friend",
}
MARKED = {"clown": "insult", "find you": "threat", "money": "scam"}  # what annotators mark


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with label_studio(tmp_path_factory.mktemp("label-studio")) as server:
        yield server


def annotation_result(text: str, dissent: bool) -> list[dict]:
    """An annotator's result: each marked word a span, its category violated (or, dissenting,
    insult judged not to be), with the reasoning steps of each violation."""
    found = {word: category for word, category in MARKED.items() if word in text}
    result = []
    for word, category in found.items():
        start = text.index(word)
        value = {"start": start, "end": start + len(word), "text": word, "labels": [category]}
        result.append(
            {"from_name": "evidence", "to_name": "text", "type": "labels", "value": value}
        )
    for category in TAXONOMY.names:
        violates = category in found.values() and not (dissent and category == "insult")
        decision = "violates" if violates else "does_not_violate"
        result.append(_result(f"decision_{category}", "choices", {"choices": [decision]}))
        if violates:
            steps = {"policy_clause": f"{category} policy", "context": "no quoting"}
            result += [
                _result(f"reason_{step}_{category}", "textarea", {"text": [words]})
                for step, words in steps.items()
            ]
    return result


def _result(name: str, kind: str, value: dict) -> dict:
    return {"from_name": name, "to_name": "text", "type": kind, "value": value}


def test_a_batch_goes_out_to_label_studio_and_comes_back_as_a_new_version(
    studio, model_dir, tmp_path, capsys, monkeypatch
):
    repo = make_dvc_repo(tmp_path)
    dataset = repo / "annotated"
    card = DatasetCard(name="annotated", source="test", categories=TAXONOMY.categories)
    first = pd.DataFrame({"id": ["r0", "r1"], "text": [TEXTS["r0"], TEXTS["r1"]], "source": "t"})
    for category in TAXONOMY.names:
        first[f"label_{category}"] = pd.array([0, 0], dtype="Int8")
    original = publish_dataset(card, first, dataset)
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in TEXTS.items()))

    out = tmp_path / "out"
    code, output = modpipe(
        capsys, monkeypatch, "annotate", "export", batch, "-o", out, "--model", model_dir
    )
    assert code == 0, output
    tasks = json.loads((out / "tasks.json").read_text())
    assert [t["predictions"][0]["model_version"] for t in tasks] == [str(model_dir)] * len(TEXTS)

    project = studio.create_project("modpipe round trip", (out / "config.xml").read_text())
    assert studio.import_tasks(project, tasks) == len(TEXTS)
    lead = studio.client.get("/api/current-user/whoami").json()["id"]
    second = studio.add_user("second@example.org")
    for number, task in enumerate(studio.tasks(project)):
        text = task["data"]["text"]
        studio.annotate(task["id"], annotation_result(text, dissent=False), seconds=10.0 + number)
        if number % 2 == 0:
            studio.annotate(task["id"], annotation_result(text, dissent=True), 5.0, user=second)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(studio.export(project)))

    code, output = modpipe(capsys, monkeypatch, "annotate", "import", export, "--into", dataset)
    assert code == 0, output
    assert (
        "6 annotated items from 6 tasks (9 annotations by 2 annotators): 4 added, 2 replaced"
        in output
    )
    assert f"the previous version ({original.md5}) stays in the DVC cache" in output

    _, rows = read_dataset(dataset)
    rows = rows.set_index("id")
    assert list(rows.index) == list(TEXTS)
    clown = rows.loc["n0"]  # both annotated it (task 3, even): insult 1 against 0, a tie: 1
    assert (clown["label_insult"], clown["soft_labels"]["insult"]) == (1, 0.5)
    assert clown["agreement"] == round((0.5 + 1 + 1) / 3, 4)
    rationale = parse_rationale(clown["rationale"])
    assert {j.annotator for j in rationale.judgements} == {
        f"labelstudio:{lead}",
        f"labelstudio:{second}",
    }
    assert [(s.start, s.end, s.type, s.annotators) for s in rationale.evidence] == [
        (4, 9, "insult", 2)
    ]
    mine = next(j for j in rationale.judgements if j.annotator == f"labelstudio:{lead}")
    assert mine.policy_version == tasks[0]["data"]["policy_version"] and mine.seconds == 12.0
    assert mine.categories["insult"].reasoning.policy_clause == "insult policy"
    threat = rows.loc["n1"]  # one annotator (task 4, odd)
    assert (threat["label_threat"], threat["label_insult"], threat["agreement"]) == (1, 0, 1.0)
    assert rows.loc["r1", ["label_insult", "label_scam"]].tolist() == [1, 1]  # replaced row

    code, output = modpipe(capsys, monkeypatch, "data", "restore", dataset, original.md5)
    assert code == 0, output
    assert read_dataset(dataset)[1]["label_insult"].tolist() == [0, 0]
