"""A text job as real data comes: characters that line splitters trip on, a text at Ground
Truth's 100,000-character limit, and bad lines of every kind among good ones.

Used by the e2e test and, at a larger size, by hand (`python -m tests.e2e.hard_text DIR`).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from labeling.logic.manifest import MAX_TEXT_CHARACTERS

TOPICS = {
    "football": (["The striker", "Our goalkeeper", "The home side", "The referee", "The midfielder", "The coach"],
                 ["scored a late penalty", "saved a free kick", "was shown a red card", "praised the defenders",
                  "celebrated the league title", "missed an open goal"],
                 ["in the derby", "before half time", "at the stadium", "in the cup final", "during extra time"]),
    "cooking": (["The chef", "My grandmother", "The baker", "Our cook", "The pastry team", "A home cook"],
                ["simmered the tomato sauce", "kneaded the bread dough", "roasted the garlic", "whisked the eggs",
                 "seasoned the soup with pepper", "baked a lemon tart"],
                ["in a cast iron pan", "for the dinner party", "with fresh basil", "in the oven", "for an hour"]),
    "weather": (["The forecast", "A cold front", "The storm", "Heavy fog", "The heatwave", "Light rain"],
                ["brought strong winds", "will reach the coast", "raised temperatures", "closed the mountain pass",
                 "left snow on the hills", "cleared by the afternoon"],
                ["across the north", "over the weekend", "this morning", "near the valley", "by tonight"]),
}
# Where cp1252 text was decoded as latin-1, "…" is U+0085; U+2028/9 come from web pages.
HARD_SEPARATORS = ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r\n", "\t", "\x00"]
HARD_TAILS = [" 😀", " مرحبا", " e\u0301", " \u202eok", " 👩‍👩‍👧", "\x85", " \ufeff"]
# One of each kind of line the job must skip, and the start of the reason it must give.
BAD_LINES = [
    ('{"source": "unterminated', "is not valid JSON"),
    ('["a", "list"]', "is not a JSON object"),
    ('"just a string"', "is not a JSON object"),
    ('{"text": "the wrong key"}', "has no 'source' key"),
    ('{"source-ref": "s3://bucket/cat.jpg"}', "has no 'source' key (it has 'source-ref'"),
    ('{"source": ""}', "'source' must be a non-empty string"),
    ('{"source": "   "}', "'source' must be a non-empty string"),
    ('{"source": 42}', "'source' must be a string, not a number"),
    ('{"source": ["a"]}', "'source' must be a string, not a list"),
    ('{"source": "half an emoji \\ud83d"}', "holds a lone surrogate"),
    (json.dumps({"source": "x" * (MAX_TEXT_CHARACTERS + 1)}), "'source' has 100,001 characters"),
    ('{"source": "raw \x01 control"}', "is not valid JSON"),
]


def _texts(count: int, rng: random.Random) -> list[tuple[str, str]]:
    names, seen, rows = list(TOPICS), set(), []
    while len(rows) < count:
        topic = rng.choice(names)
        subjects, verbs, places = TOPICS[topic]
        words = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(places)}"
        if rng.random() < 0.5:  # half the texts carry a separator inside and a hard tail
            words = words.replace(" ", rng.choice(HARD_SEPARATORS), 1) + rng.choice(HARD_TAILS)
        text = f"{words} (report {rng.randint(1, 99_999)})."
        if text not in seen:
            seen.add(text)
            rows.append((text, topic))
    long_topic = "weather"
    long_text = ("The storm\u2028brought strong winds\x85 across the north. " * 2000)[:MAX_TEXT_CHARACTERS]
    rows[len(rows) // 2] = (long_text, long_topic)
    return rows


def write_job(folder: Path, items: int, bad_lines: int, seed: int = 7) -> dict:
    """manifest, answers, labels; `bad_lines` bad lines (the kinds above, in turn) spread among the items."""
    rng = random.Random(seed)
    names = list(TOPICS)
    rows = _texts(items, rng)
    lines = [json.dumps({"source": text, "row": n}, ensure_ascii=False) for n, (text, _) in enumerate(rows)]
    bad_at = sorted(rng.sample(range(len(lines) + bad_lines), bad_lines))
    expected_bad = {}
    for k, position in enumerate(bad_at):
        line, reason = BAD_LINES[k % len(BAD_LINES)]
        lines.insert(position, line)
        expected_bad[position + 1] = reason
    folder.mkdir(parents=True, exist_ok=True)
    manifest, answers, labels = folder / "notes.manifest", folder / "gold.manifest", folder / "topics.json"
    labels.write_text(json.dumps({"document-version": "2018-11-28", "labels": [{"label": n} for n in names]}))
    manifest.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass"))
    answers.write_bytes("".join(json.dumps({
        "source": text, "topic": names.index(topic), "topic-metadata": {"class-name": topic, "human-annotated": "yes"},
    }, ensure_ascii=False) + "\n" for text, topic in rows).encode())
    return {"manifest": manifest, "answers": answers, "labels": labels, "bad": expected_bad,
            "gold": {text: names.index(topic) for text, topic in rows}, "texts": [text for text, _ in rows]}


if __name__ == "__main__":
    target = Path(sys.argv[1])
    job = write_job(target, int(sys.argv[2]) if len(sys.argv) > 2 else 3000,
                    int(sys.argv[3]) if len(sys.argv) > 3 else 30)
    print(f"{job['manifest']}: {len(job['texts'])} good lines, {len(job['bad'])} bad lines")
