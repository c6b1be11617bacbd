"""Annotation: batches out to Label Studio with pre-annotations (the model's, an LLM's drafts),
exports back as canonical rows with rationales (components/data/rationale.py), and LLM
annotator backends."""
