"""The registered model's ``mlflow.pyfunc`` face: a ``text`` column in, a score per category out.

It loads anywhere the model's pip requirements are installed, so it imports nothing else of
the project than the model library (no kfp, DVC, Great Expectations or BentoML).
"""

import mlflow.pyfunc
import pandas as pd

from components.model.modeling import ModerationModel

TEXT_COLUMN = "text"


class ModerationPyfunc(mlflow.pyfunc.PythonModel):
    """The ``mlflow.pyfunc`` face of a ModerationModel: a ``text`` column in, scores out."""

    def load_context(self, context) -> None:
        self.moderation = ModerationModel.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        texts = model_input[TEXT_COLUMN].astype(str).tolist()
        scores = self.moderation.predict_scores(texts)
        return pd.DataFrame(scores, columns=self.moderation.categories, index=model_input.index)
