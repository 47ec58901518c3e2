#!/usr/bin/env python3
"""Build tests/eval/lookalikes.tsv: lookalikes of the brands in
tests/eval/brands.txt made by two third-party generators, labelled with the
generator, its fuzzer and the class the evaluation scores them in.

certsentry's own tables play no part: the names come from dnstwist
(with its own dictionaries, tests/eval/dnstwist/) and ail-typo-squatting,
sampled per (brand, generator, fuzzer) with a fixed seed, encoded as CT
carries them (IDNA A-labels). The class comes from the fuzzer and, for
typos, from the edit distance of the label to the brand's label.

Run once, in a venv with the pinned generators, offline:

    python3 -m venv /tmp/evalvenv
    /tmp/evalvenv/bin/pip install dnstwist==20250130 ail-typo-squatting==2.7.6
    /tmp/evalvenv/bin/python scripts/make_eval_data.py

(ail-typo-squatting's tldextract tries to fetch the public suffix list and
falls back to its bundled snapshot; the errors it prints are harmless.)
"""

import logging
import os
import random
import sys

import dnstwist
import idna
import tldextract

logging.disable(logging.CRITICAL)
HERE = os.path.dirname(os.path.abspath(__file__))
EVAL = os.path.join(HERE, "..", "tests", "eval")
sys.path.insert(0, os.path.dirname(__import__("ail_typo_squatting").__file__))
import ail_typo_squatting.typo as ail  # noqa: E402

EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), include_psl_private_domains=False)

# How many names to keep per (brand, generator, fuzzer).
PER_FUZZER = 4
PER_FUZZER_HOMOGLYPH = 10

DNSTWIST_CLASS = {
    "homoglyph": "homoglyph",
    "cyrillic": "homoglyph",
    "addition": "typo",
    "bitsquatting": "typo",
    "hyphenation": "typo",
    "insertion": "typo",
    "omission": "typo",
    "plural": "typo",
    "repetition": "typo",
    "replacement": "typo",
    "transposition": "typo",
    "vowel-swap": "typo",
    "subdomain": "embedding",
    "various": "embedding",
    "dictionary": "combosquat",
    "tld-swap": "suffix",
}

AIL_CLASS = {
    "homoglyph": "homoglyph",
    "omission": "typo",
    "repetition": "typo",
    "changeOrder": "typo",
    "replacement": "typo",
    "doubleReplacement": "typo",
    "addition": "typo",
    "vowelSwap": "typo",
    "addDash": "typo",
    "stripDash": "typo",
    "singularPluralize": "typo",
    "numeralSwap": "typo",
    "commonMisspelling": "typo",
    "homophones": "typo",
    "missingDot": "embedding",
    "addTld": "embedding",
    "changeDotDash": "embedding",
    "subdomain": "embedding",
    "wrongTld": "suffix",
    "wrongSld": "suffix",
}


def osa(a, b):
    """Optimal string alignment distance (a transposition is one edit)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def ascii_form(name):
    """The A-label form CT carries, or None when IDNA refuses the name."""
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def unicode_label(name):
    """The registrable label (ICANN suffixes) in Unicode, for distances."""
    r = EXTRACT(name)
    label = r.domain
    try:
        return idna.decode(label) if label.startswith("xn--") else label
    except (idna.IDNAError, UnicodeError, ValueError):
        return label


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("//")]


def main():
    brands = [l.split("\t")[0] for l in read_lines(os.path.join(EVAL, "brands.txt")) if not l.startswith("#")]
    words = read_lines(os.path.join(EVAL, "dnstwist", "english.dict"))
    tlds = read_lines(os.path.join(EVAL, "dnstwist", "abused_tlds.dict"))
    brand_set = set(brands)
    rows = []
    for brand in brands:
        brand_label = unicode_label(brand)
        found = {}
        fz = dnstwist.Fuzzer(brand, dictionary=words, tld_dictionary=tlds)
        fz.generate()
        for d in fz.domains:
            if d["fuzzer"] in DNSTWIST_CLASS:
                found.setdefault(("dnstwist", d["fuzzer"]), []).append(d["domain"])
        for algo in ail.algo_list:
            if algo not in AIL_CLASS:
                continue
            try:
                out = getattr(ail, algo)(brand, [], False, 100000, True, False)
            except Exception:  # a generator that fails on a brand gives nothing
                continue
            for item in out:
                name = item[0] if isinstance(item, list) else item
                found.setdefault(("ail-typo-squatting", algo), []).append(name)
        for (source, fuzzer), names in sorted(found.items()):
            names = sorted(set(names))
            rng = random.Random(f"{brand}|{source}|{fuzzer}")
            rng.shuffle(names)
            keep = PER_FUZZER_HOMOGLYPH if fuzzer in ("homoglyph", "cyrillic") else PER_FUZZER
            kept = 0
            for name in names:
                if kept == keep:
                    break
                ascii_name = ascii_form(name)
                if not ascii_name or ascii_name == brand or ascii_name in brand_set:
                    continue
                if any(ascii_name.endswith("." + b) for b in brand_set):
                    continue  # a name under a protected domain is its owner's
                cls = DNSTWIST_CLASS[fuzzer] if source == "dnstwist" else AIL_CLASS[fuzzer]
                label = unicode_label(ascii_name)
                distance = osa(label, brand_label)
                if cls == "typo":
                    if EXTRACT(ascii_name).suffix != EXTRACT(brand).suffix:
                        continue  # typos keep the suffix; others belong elsewhere
                    if distance == 0 or distance > 2:
                        continue
                    if len(brand_label) <= 4:
                        cls = "short" if distance == 1 else "short-2"
                    else:
                        cls = "typo1" if distance == 1 else "typo2"
                rows.append((ascii_name, brand, source, fuzzer, cls, str(distance)))
                kept += 1
    out = os.path.join(EVAL, "lookalikes.tsv")
    with open(out, "w", encoding="utf-8") as f:
        f.write("# name\tbrand\tgenerator\tfuzzer\tclass\tlabel_distance\n")
        f.write(f"# dnstwist {dnstwist.__version__}, ail-typo-squatting 2.7.6; scripts/make_eval_data.py\n")
        for r in sorted(rows, key=lambda r: (r[1], r[2], r[3], r[0])):
            f.write("\t".join(r) + "\n")
    print(f"{len(rows)} lookalikes written to {out}")


if __name__ == "__main__":
    main()
