#!/usr/bin/env python3
"""Build assets/common-words.txt: common dictionary words with their
frequency, which the matcher uses to tell a generic brand label (`mail`,
`live`) from a distinctive one (`paypal`), and a lookalike from a real word
one edit away (`chaser` is not a typo of `chase`).

Words: lower-case entries of Debian's word lists (SCOWL: wamerican,
wbritish; wfrench, wngerman, wspanish, witalian, wportuguese, wdutch),
letters a-z only, 3-20 long, that wordfreq 3.1.1 (data CC BY-SA 4.0,
https://github.com/rspeer/wordfreq) rates at a Zipf frequency of at least
3.0 in that language. Each line: word, tab, Zipf frequency × 10 (the
highest over the languages). Nothing here comes from certsentry's
evaluation corpus.

    apt-get install wamerican wbritish wfrench wngerman wspanish witalian wportuguese wdutch
    pip install wordfreq==3.1.1
    python3 scripts/make_common_words.py
"""

import os
import re
import unicodedata

import wordfreq

DICTS = [
    ("american-english", "en", 3.0),
    ("british-english", "en", 3.0),
    ("french", "fr", 3.3),
    ("ngerman", "de", 3.3),
    ("spanish", "es", 3.3),
    ("italian", "it", 3.3),
    ("portuguese", "pt", 3.3),
    ("dutch", "nl", 3.3),
]

best = {}
for path, lang, floor in DICTS:
    with open(os.path.join("/usr/share/dict", path), encoding="utf-8", errors="replace") as f:
        for line in f:
            w = line.strip()
            if not w or w[0].isupper() or "'" in w:
                continue
            # letters with diacritics are written without them in domains
            ascii = "".join(c for c in unicodedata.normalize("NFD", w) if not unicodedata.combining(c))
            if not re.fullmatch(r"[a-z]{3,20}", ascii):
                continue
            z = wordfreq.zipf_frequency(w, lang)
            if z >= floor:
                best[ascii] = max(best.get(ascii, 0), z)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "common-words.txt")
with open(out, "w", encoding="utf-8") as f:
    f.write("# common dictionary words and their Zipf frequency x 10; scripts/make_common_words.py\n")
    for w in sorted(best):
        f.write(f"{w}\t{round(best[w] * 10)}\n")
print(len(best), "words written to", out)
