"""TF-IDF (1-2 grams) + one logistic regression per category: the classic text baseline that a
fine-tuned encoder must beat. Each category is fitted on the rows whose label is known."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def tfidf_logistic_regression(train, categories):
    """``predict(texts) -> scores [n, k]``; a category with one class only scores its rate."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train["text"])
    models = []
    for name in categories:
        labels = train[f"label_{name}"]
        known = labels.notna().to_numpy()
        truth = labels[known].astype(int).to_numpy()
        if len(np.unique(truth)) < 2:
            models.append(float(truth.mean()) if len(truth) else 0.0)
            continue
        model = LogisticRegression(max_iter=2000, class_weight="balanced")
        models.append(model.fit(features[known], truth))

    def predict(texts):
        rows = vectorizer.transform(texts)
        return np.column_stack(
            [
                np.full(rows.shape[0], m) if isinstance(m, float) else m.predict_proba(rows)[:, 1]
                for m in models
            ]
        )

    return predict
