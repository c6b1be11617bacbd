"""The Label Studio labeling config generated from a taxonomy, and the names of its controls:
the contract between the tasks we export and the exports we import.

On the text (object ``text``), an annotator gives, per category:

- a decision: Choices ``decision_<category>``, one of violates / does_not_violate / unsure
  (required: Label Studio refuses to submit without it);
- evidence: span labels, one Labels control ``evidence`` whose label values are the categories;
- the reasoning, one TextArea per step (``reason_<step>_<category>``, steps policy_clause,
  evidence, context, decision: the fields of a rationale's Reasoning), shown once a decision
  for that category is picked.

The policy version travels in each task's data, not in the config.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from components.data.canonical import Taxonomy
from components.data.rationale import DECISIONS, Reasoning

TEXT_OBJECT = "text"
EVIDENCE_CONTROL = "evidence"
STEPS = tuple(Reasoning.model_fields)  # policy_clause, evidence, context, decision
STEP_PROMPTS = {
    "policy_clause": "Policy clause: which part of the policy applies",
    "evidence": "Evidence: what in the text meets it",
    "context": "Context: what changes it (quoting, counter-speech, a reclaimed term...)",
    "decision": "Decision: why it does or does not violate",
}
# Span colours, in category order (Label Studio's own palette is random).
COLOURS = ("#e6194b", "#f58231", "#3cb44b", "#4363d8", "#911eb4", "#f032e6", "#9a6324")
DECISION_NAME = re.compile(r"^decision_(?P<category>.+)$")
REASONING_NAME = re.compile(rf"^reason_(?P<step>{'|'.join(STEPS)})_(?P<category>.+)$")


@dataclass(frozen=True)
class Control:
    """What a control of our config records: a decision, evidence spans or a reasoning step."""

    kind: str  # "decision", "evidence" or "reasoning"
    category: str | None = None
    step: str | None = None


def decision_control(category: str) -> str:
    return f"decision_{category}"


def reasoning_control(category: str, step: str) -> str:
    return f"reason_{step}_{category}"


def read_control(name: str, categories: list[str]) -> Control:
    """The control ``name`` of our config; ValueError for a category not in ``categories`` or a
    name our config never has (the export came from another labeling config)."""
    if name == EVIDENCE_CONTROL:
        return Control("evidence")
    for kind, pattern in (("decision", DECISION_NAME), ("reasoning", REASONING_NAME)):
        if match := pattern.match(name):
            category = match["category"]
            if category not in categories:
                raise ValueError(f"control {name!r} is for an unknown category {category!r}")
            return Control(kind, category, match.groupdict().get("step"))
    raise ValueError(
        f"control {name!r} is not in modpipe's labeling config: was the project made with the "
        "config.xml of 'modpipe annotate export'?"
    )


def labeling_config(taxonomy: Taxonomy) -> str:
    """The labeling config XML for ``taxonomy``."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="Mark the words that carry each violation")
    labels = ET.SubElement(view, "Labels", name=EVIDENCE_CONTROL, toName=TEXT_OBJECT)
    for number, category in enumerate(taxonomy.categories):
        colour = COLOURS[number % len(COLOURS)]
        ET.SubElement(labels, "Label", value=category.name, background=colour)
    ET.SubElement(view, "Text", name=TEXT_OBJECT, value=f"${TEXT_OBJECT}")
    for category in taxonomy.categories:
        _category_block(view, category.name, category.description)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _category_block(view: ET.Element, name: str, description: str) -> None:
    block = ET.SubElement(view, "View")
    ET.SubElement(block, "Header", value=f"{name}: {description}", size="5")
    choices = ET.SubElement(
        block,
        "Choices",
        name=decision_control(name),
        toName=TEXT_OBJECT,
        choice="single-radio",
        showInline="true",
        required="true",
    )
    for decision in DECISIONS:
        ET.SubElement(choices, "Choice", value=decision)
    reasons = ET.SubElement(
        block, "View", visibleWhen="choice-selected", whenTagName=decision_control(name)
    )
    for step in STEPS:
        ET.SubElement(
            reasons,
            "TextArea",
            name=reasoning_control(name, step),
            toName=TEXT_OBJECT,
            placeholder=STEP_PROMPTS[step],
            rows="1",
            maxSubmissions="1",
            editable="true",
        )
