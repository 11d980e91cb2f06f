#!/usr/bin/env python3
"""Generate the Python reference table for MMLU-Pro answer extraction.

What this table is for
----------------------
evalboard reimplements, in Rust, the answer extraction of the official
MMLU-Pro evaluation (TIGER-AI-Lab/MMLU-Pro, ``evaluate_from_api.py``).
That extraction is written with Python's ``re`` module on ``str`` patterns,
so it uses Python's Unicode semantics for ``\\b``, ``\\s``, ``.`` and so on,
which differ in many small ways from other regex engines (e.g. what counts
as a word character: Python's ``\\w`` is ``str.isalnum()`` plus ``_``, so
combining marks, joiners and most connector punctuation are *not* word
characters, while superscript digits and other numerics are).

This script builds a differential test table: a few fixed cases plus a
few thousand deterministic random strings rich in exactly those characters,
each with the letter and tier that Python's ``re`` gives.  The Rust test in
``crates/domain/tests/`` reads ``python_reference.jsonl`` and checks that
evalboard's extraction agrees with Python on every line.

How to regenerate
-----------------
From the repository root::

    python3 crates/domain/tests/extraction/generate_reference.py

Options: ``--count N`` (default 4000), ``--seed S`` (default 20261202) and
an optional output path (default: ``python_reference.jsonl`` next to this
script).  The output is deterministic for a given seed, count, and Python
version.

Unicode version matters
-----------------------
Python's ``re`` consults the Unicode database of the interpreter that runs
it (``unicodedata.unidata_version``), which is recorded in the header line
of the output.  Character properties can change between Unicode versions,
so the generator deliberately uses only characters assigned in Unicode 14.0
or earlier (Python 3.11 ships Unicode 14.0); regenerating with another
Python should then give the same table.  If you add characters to the pools
below, keep them at or below the Unicode version of the generating Python.

Output format
-------------
JSON Lines, pure ASCII (``ensure_ascii=True``).  The first line is a header
object ``{"generator", "python", "unicode", "seed", "count"}`` that the Rust
test skips; every following line is ``{"text", "letter", "tier"}`` where
``letter`` is ``"A"``..``"J"`` or ``null`` and ``tier`` is one of
``answer_is``, ``answer_label``, ``last_letter``, ``unparsed``.
"""

import argparse
import json
import os
import random
import re
import sys
import unicodedata
from collections import Counter

GENERATOR = "crates/domain/tests/extraction/generate_reference.py"
DEFAULT_SEED = 20261202
DEFAULT_COUNT = 4000
DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "python_reference.jsonl"
)


def extract_answer(text):
    """The official MMLU-Pro extraction, verbatim.

    Mirrors TIGER-AI-Lab/MMLU-Pro evaluate_from_api.py:
      - the response has markdown bold ("**") removed first,
      - extract_answer: r"answer is \\(?([A-J])\\)?"
      - extract_again:  r'.*[aA]nswer:\\s*([A-J])'
      - extract_final:  r"\\b[A-J]\\b(?!.*\\b[A-J]\\b)" with re.DOTALL
    The regexes below are kept verbatim; do not "fix" them.
    """
    text = text.replace('**', '')   # the official script removes markdown bold from the response first
    # extract_answer
    m = re.search(r"answer is \(?([A-J])\)?", text)
    if m: return m.group(1), "answer_is"
    # extract_again
    m = re.search(r'.*[aA]nswer:\s*([A-J])', text)
    if m: return m.group(1), "answer_label"
    # extract_final
    m = re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL)
    if m: return m.group(0), "last_letter"
    return None, "unparsed"


FIXED_CASES = [
    "Mass of C\u2082H\u2082 = 47.697 kg, which matches none of the options.",
    "The gyromagnetic ratio for \u00b9\u2079F is about 40 MHz/T.",
    "I would pick A\u0301 here.",
    "Between the options I pick B\u200d today.",
    "Option C\u203f is it.",
    "Final Answer:\x1cB\nI think.",
    "",
]

# --- Piece pools (all characters assigned in Unicode <= 14.0) --------------

LETTERS_AJ = list("ABCDEFGHIJ")
LETTERS_aj = list("abcdefghij")
LETTERS_KZ = list("KLMNOPQRSTUVWXYZ")
DIGITS = list("0123456789")

WHITESPACE = [
    " ", "\n", "\r", "\t", "\x0b", "\x0c",
    "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680",
] + [chr(c) for c in range(0x2000, 0x200B)] + [
    "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
    "\x00", "\x07", "\x7f",
]

COMBINING = ["\u0301", "\u0308", "\u0327", "\u093f", "\u20dd"]

NUMBERS = [
    "\u00b9", "\u00b2", "\u00b3", "\u2070", "\u2074", "\u2079",
    "\u2080", "\u2081", "\u2082", "\u2089",
    "\u00bd", "\u2460", "\u216b", "\u0663", "\u096b",
]

FORMAT = ["\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]

CONNECTORS = ["\u203f", "\u2040", "\ufe4f", "_"]

OTHER_LETTERS = [
    "\u00e9", "\u00df", "\u0416", "\u03b1", "\u4e2d", "\uff76", "\uff21",
    "\u24b6", "\u24d1",
]

PUNCT = ["(", ")", ".", ",", ":", ";", "*", "**", "-", "/", "'", '"']

EMOJI = ["\U0001f642"]

FRAGMENTS_IS = [
    "answer is (", "answer is ", "The answer is (", "the answer is ",
    "answer is(",
]
FRAGMENTS_LABEL = ["Answer:", "answer:", "Answer: ", "ANSWER:"]
FRAGMENTS_OTHER = [")", "**"]

# (weight, pool).  Tuned so that each tier gets a reasonable share
# (see the histogram printed to stderr).
POOLS = [
    (30, LETTERS_AJ),
    (6, LETTERS_aj),
    (4, LETTERS_KZ),
    (4, DIGITS),
    (2, ["_"]),
    (16, WHITESPACE),
    (6, COMBINING),
    (6, NUMBERS),
    (6, FORMAT),
    (5, CONNECTORS),
    (6, OTHER_LETTERS),
    (8, PUNCT),
    (1, EMOJI),
    (12, FRAGMENTS_IS),
    (16, FRAGMENTS_LABEL),
    (3, FRAGMENTS_OTHER),
]
_POOL_WEIGHTS = [w for w, _ in POOLS]
_POOL_LISTS = [p for _, p in POOLS]


def random_case(rng):
    n = rng.randint(0, 14)
    pieces = []
    for _ in range(n):
        pool = rng.choices(_POOL_LISTS, weights=_POOL_WEIGHTS)[0]
        pieces.append(rng.choice(pool))
    return "".join(pieces)


def check_unicode_age(text):
    # Every character must be assigned in this Python's Unicode database
    # (category "Cn" means unassigned).  NUL and other controls are "Cc".
    for ch in text:
        if unicodedata.category(ch) == "Cn":
            raise SystemExit("unassigned character U+%04X in a case" % ord(ch))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT,
                    help="number of cases, fixed ones included (default %(default)s)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help="random seed (default %(default)s)")
    ap.add_argument("output", nargs="?", default=DEFAULT_OUTPUT,
                    help="output path (default: python_reference.jsonl next to this script)")
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    seen = set()
    cases = []
    for text in FIXED_CASES:
        if text not in seen:
            seen.add(text)
            cases.append(text)
    attempts = 0
    while len(cases) < args.count:
        attempts += 1
        if attempts > args.count * 100:
            raise SystemExit("could not generate enough distinct cases")
        text = random_case(rng)
        if text in seen:
            continue
        seen.add(text)
        cases.append(text)

    header = {
        "generator": GENERATOR,
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
        "seed": args.seed,
        "count": len(cases),
    }
    tiers = Counter()
    with open(args.output, "w", encoding="ascii", newline="\n") as f:
        f.write(json.dumps(header, ensure_ascii=True) + "\n")
        for text in cases:
            check_unicode_age(text)
            letter, tier = extract_answer(text)
            tiers[tier] += 1
            obj = {"text": text, "letter": letter, "tier": tier}
            f.write(json.dumps(obj, ensure_ascii=True) + "\n")

    total = len(cases)
    print("wrote %d cases to %s" % (total, args.output), file=sys.stderr)
    for tier in ("answer_is", "answer_label", "last_letter", "unparsed"):
        n = tiers[tier]
        print("  %-13s %5d  (%.1f%%)" % (tier, n, 100.0 * n / total if total else 0.0),
              file=sys.stderr)
        if total and n < total / 10:
            print("  warning: tier %s has under 10%% of cases" % tier, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
