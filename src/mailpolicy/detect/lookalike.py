"""Lookalike domains: sender domains close to one of an account's reference domains.

The reference domains are the account's protected domains and the domains of its
impersonation-registry addresses (`mailpolicy.engine.reference_domains`). A sender domain (the
header From's or the envelope sender's) that imitates one of them becomes a `lookalike_domain`
finding; a trusted domain marked `is_similarity` cancels it (docs/lookalike-domains.md).

Everything here is offline: the public suffix list is the one `publicsuffixlist` ships, the
confusable characters and scripts are Unicode's, as `confusable-homoglyphs` ships them.

**What is compared.** Domains are lower-cased, stripped of a trailing dot, and each `xn--`
label is decoded to Unicode (IDNA 2008 through `idna`; a label `idna` rejects is decoded as
plain Punycode, and one that is not even that is kept as it is). The public suffix list (its
ICANN and private sections) splits a domain into its *registrable domain* (the public suffix
and one label more: `example.co.uk`, `paypal.blogspot.com`) and the labels before it. The
*label* is the registrable domain's first label (`example`), the *suffix* the rest (`co.uk`).

A domain whose registrable domain is a reference's registrable domain is never a lookalike:
`example.com` and `mail.example.com` for the reference `example.com`, and `example.com` for the
reference `mail.example.com` (one organisation). Everything else is checked on its registrable
domain, so a subdomain of a lookalike (`mail.examp1e.com`) is a lookalike too.

**The checks**, in the order they are tried (the first that fires is the answer):

1. *Confusable characters* (`confusable`): the label's skeleton equals a reference label's
   skeleton while the labels differ. The skeleton decomposes the label (NFD), drops combining
   marks (accents), maps every character to its prototype in Unicode's confusables (a Latin
   letter where there is one: Cyrillic a, U+0430, and Greek omicron become `a` and `o`; `0`
   becomes `o` and `1` becomes `l`), then replaces the multi-letter confusables (`rn` becomes
   `m`). Under the reference's own suffix any label length counts (`c0rp.example`); under
   another suffix (`paypa1.net` for `paypal.com`) the label needs at least 5 characters
   (`EDIT_FROM`): short names are dense across suffixes (`ur1.ca`, `url.az`, `0rz.tw` and
   `orz.se` are all real shorteners; without the bound this check flagged 20 of the 2,054
   measured domains, with it none).
2. *Another public suffix* (`public_suffix`): the reference's very label under another public
   suffix (`example.co`, `example.net`, `example.com.br`, `example.blogspot.com`), for labels
   of at least `MIN_SWAP_LENGTH` (3) characters; one- and two-letter labels are registered
   under most suffixes by unrelated owners. A brand's own domains under other suffixes fire
   too (the check cannot know who registered them): list them as references, or as trusted
   domains with `is_similarity`.
3. *Edit distance* (`edit_distance`): same suffix, and the labels are at most
   `max_edits(len(reference label))` edits apart, a swap of two adjacent characters counting
   as one edit (the optimal string alignment distance, Damerau-Levenshtein's restricted form,
   through `rapidfuzz`; five times faster than the unrestricted form and the same for one or
   two edits but in contrived cases): no edit below 5 characters, 1 edit for 5 to 8, 2 edits
   from 9. Measured by bench/lookalike.py over the 2,054 real registrable domains of the lists
   Debian's rspamd ships, each against the others: this rule flags 2.8% of them; 1 edit from
   4 characters 4.8%, 2 edits from 7 characters 5.7%, 1 from 3 and 2 from 6 10.6%. Dropping
   the second edit at 9 saves 0.3% and misses the two-typo squats of long names.
4. *Mixed or foreign scripts* (`mixed_scripts`): the label holds letters of a script other
   than Latin, mixed with Latin ones (`microsoft-x` with a Cyrillic o, U+043E) or alone
   (`xn--80ak6aa92e`, an all-Cyrillic "apple" whose palochka U+04CF Unicode lists as
   confusable with `i` rather than `l`; digits, `-` and combining marks belong to no script),
   and its skeleton is within the edit threshold of a reference label's skeleton, same suffix.
   Equal skeletons are check 1.
5. *Reference as a leading part* (`leading_part`): a reference's whole registrable domain
   appears as consecutive labels in front of another registrable domain
   (`example.com.attacker.net`, `login.example.com.attacker.net`), the trick that makes a
   client's From line start with the real name. It fires on none of the real domains
   measured; legitimate mail rarely comes from such names, and one that does is cancelled
   like any other finding.

Fast and shared: the index builds its dictionaries (registrable domains, skeletons, labels) and
its length buckets once; a check computes one split and one skeleton, makes a few dictionary
lookups and compares the label with the references of its suffix whose length is within the
threshold (one `rapidfuzz.process.extractOne` per length). Nothing changes after construction,
so one index may serve many threads.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import idna
from confusable_homoglyphs import categories, confusables
from publicsuffixlist import PublicSuffixList
from rapidfuzz import process
from rapidfuzz.distance import OSA

from mailpolicy.engine import normalize_domain

__all__ = [
    "CHECKS",
    "MAX_DOMAIN_LENGTH",
    "MIN_SWAP_LENGTH",
    "Lookalike",
    "LookalikeIndex",
    "Parts",
    "max_edits",
    "skeleton",
    "split_domain",
]

# The checks, in the order `LookalikeIndex.check` tries them.
CHECKS: Final = ("confusable", "public_suffix", "edit_distance", "mixed_scripts", "leading_part")
# A domain name is at most 253 characters (RFC 1035) in its ASCII form; longer strings are not
# domains and are never lookalikes.
MAX_DOMAIN_LENGTH: Final = 253
MAX_LABEL_LENGTH: Final = 63
# The shortest label that counts under another public suffix (checks 1 and 2).
MIN_SWAP_LENGTH: Final = 3
# Edit thresholds by the length of the reference's label (check 3).
EDIT_FROM: Final = 5  # shorter labels allow no edit
TWO_EDITS_FROM: Final = 9
MAX_EDITS: Final = 2
# Scripts that mix with any other: digits, `-` (COMMON) and combining marks (INHERITED).
NEUTRAL_SCRIPTS: Final = ("COMMON", "INHERITED")

# The bundled list (never the network): ICANN and private suffixes, IDN suffixes in both forms.
_PSL: Final = PublicSuffixList()


def max_edits(length: int) -> int:
    """How many edits a label may be from a reference label of ``length`` characters."""
    if length < EDIT_FROM:
        return 0
    return 1 if length < TWO_EDITS_FROM else MAX_EDITS


# ---- skeletons ----


def _prototype(options: list[str]) -> str | None:
    """The ASCII prototype among a character's confusables: a lower-case letter (or letters)
    first, then any ASCII letter or digit, lower-cased."""
    ascii_options = [o for o in options if o.isascii() and o.isalnum()]
    for option in ascii_options:
        if option.isalpha() and option.islower():
            return option
    for option in ascii_options:
        if option.lower().isalpha():
            return option.lower()
    return None


def _build_tables() -> tuple[dict[int, str], tuple[tuple[str, str], ...]]:
    """From Unicode's confusables: one character to its prototype, and the multi-letter ASCII
    sequences to the letter they imitate (``rn`` to ``m``)."""
    table: dict[int, str] = {}
    sequences: list[tuple[str, str]] = []
    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    for key, entries in data.items():
        options = [entry["c"] for entry in entries]
        if len(key) > 1:
            target = _prototype(options)
            if key.isascii() and key.isalnum() and target is not None and len(target) == 1:
                sequences.append((key, target))
            continue
        if "a" <= key <= "z" or key == "-":
            continue  # the prototypes themselves
        target = _prototype(options)
        if target is None:
            # No ASCII lookalike: the smallest code point among the characters it is
            # confusable with stands for all of them (Cyrillic and Greek twins, say).
            singles = [option for option in options if len(option) == 1]
            target = min([key, *singles])
        if target != key:
            table[ord(key)] = target
    # A prototype that is itself mapped (a digit, say) is followed to its end.
    for code, target in list(table.items()):
        table[code] = target.translate(table)
    sequences.sort(key=lambda pair: -len(pair[0]))
    return table, tuple(sequences)


_SKELETON_TABLE, _SKELETON_SEQUENCES = _build_tables()


def skeleton(label: str) -> str:
    """What ``label`` looks like: accents dropped, each character mapped to its prototype among
    its confusables, multi-letter confusables (``rn``) replaced by the letter they imitate."""
    if not label.isascii():
        decomposed = unicodedata.normalize("NFD", label)
        label = "".join(c for c in decomposed if not unicodedata.combining(c))
    shape = label.translate(_SKELETON_TABLE)
    for sequence, letter in _SKELETON_SEQUENCES:
        if sequence in shape:
            shape = shape.replace(sequence, letter)
    return shape


def _is_mixed_script(label: str) -> bool:
    return not label.isascii() and bool(
        confusables.is_mixed_script(label, allowed_aliases=list(NEUTRAL_SCRIPTS))
    )


def _scripts(label: str) -> list[str]:
    """The scripts of ``label`` other than Latin and the neutral ones."""
    if label.isascii():
        return []
    found: set[str] = categories.unique_aliases(label)
    return sorted(s.title() for s in found if s not in {"LATIN", *NEUTRAL_SCRIPTS})


# ---- splitting a domain ----


@dataclass(frozen=True, slots=True)
class Parts:
    """A domain split along the public suffix list, in Unicode."""

    domain: str  # normalised as given (A-labels kept)
    leading: tuple[str, ...]  # the labels before the registrable domain, decoded
    registrable: str  # decoded
    label: str  # the registrable domain's first label
    suffix: str  # its public suffix


def _decode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return idna.ulabel(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        # Not IDNA 2008, yet a mail client may still show it decoded.
        return label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def split_domain(value: str) -> Parts | None:
    """``value`` normalised and split, or None when it is no domain (empty, too long, a bare
    public suffix, an empty label). Never raises."""
    domain = normalize_domain(value)
    if not domain or len(domain) > MAX_DOMAIN_LENGTH:
        return None
    labels = domain.split(".")
    if any(not label or len(label) > MAX_LABEL_LENGTH for label in labels):
        return None
    decoded = [_decode_label(label) for label in labels]
    if any(not label.isascii() for label in decoded):
        decoded = [unicodedata.normalize("NFC", label).lower() for label in decoded]
    if any(not label or "." in label for label in decoded):
        return None  # a decoded label may hold a dot or nothing at all
    parts = _PSL.privateparts(".".join(decoded))
    if not parts:
        return None
    registrable: str = parts[-1]
    label, _, suffix = registrable.partition(".")
    if not label or not suffix:
        return None
    return Parts(domain, tuple(parts[:-1]), registrable, label, suffix)


# ---- the index ----


@dataclass(frozen=True, slots=True)
class Lookalike:
    """A sender domain close to a reference domain, and how."""

    domain: str  # the suspect domain as given, normalised (lower case, no trailing dot)
    imitates: str  # the reference domain it is close to, as given to the index, normalised
    how: str  # short words for the explanation


@dataclass(frozen=True, slots=True)
class _Reference:
    domain: str
    label: str
    suffix: str
    skeleton: str


def _characters(count: int) -> str:
    return "1 character" if count == 1 else f"{count} characters"


class LookalikeIndex:
    """An account's reference domains, indexed for `check`. Read-only once built."""

    __slots__ = (
        "_by_label",
        "_by_registrable",
        "_by_skeleton",
        "_count",
        "_label_buckets",
        "_max_labels",
        "_skeleton_buckets",
    )

    def __init__(self, references: Iterable[str]) -> None:
        by_registrable: dict[str, _Reference] = {}
        given: set[str] = set()
        for value in references:
            parts = split_domain(value) if isinstance(value, str) else None
            if parts is None:
                continue
            given.add(parts.domain)
            held = by_registrable.get(parts.registrable)
            # One reference stands for its registrable domain: the shortest name, then the
            # first in order (so the answer does not depend on the order given).
            if held is None or (len(parts.domain), parts.domain) < (
                len(held.domain),
                held.domain,
            ):
                by_registrable[parts.registrable] = _Reference(
                    parts.domain, parts.label, parts.suffix, skeleton(parts.label)
                )
        self._count = len(given)
        self._by_registrable = by_registrable
        by_label: dict[str, list[_Reference]] = {}
        by_skeleton: dict[str, list[_Reference]] = {}
        label_buckets: dict[tuple[str, int], tuple[list[str], list[_Reference]]] = {}
        skeleton_buckets: dict[tuple[str, int], tuple[list[str], list[_Reference]]] = {}
        for registrable in sorted(by_registrable):
            ref = by_registrable[registrable]
            by_label.setdefault(ref.label, []).append(ref)
            by_skeleton.setdefault(ref.skeleton, []).append(ref)
            if max_edits(len(ref.label)):
                strings, refs = label_buckets.setdefault((ref.suffix, len(ref.label)), ([], []))
                strings.append(ref.label)
                refs.append(ref)
                strings, refs = skeleton_buckets.setdefault(
                    (ref.suffix, len(ref.skeleton)), ([], [])
                )
                strings.append(ref.skeleton)
                refs.append(ref)
        self._by_label = {k: tuple(v) for k, v in by_label.items()}
        self._by_skeleton = {k: tuple(v) for k, v in by_skeleton.items()}
        self._label_buckets = {k: (tuple(s), tuple(r)) for k, (s, r) in label_buckets.items()}
        self._skeleton_buckets = {k: (tuple(s), tuple(r)) for k, (s, r) in skeleton_buckets.items()}
        self._max_labels = max((r.count(".") + 1 for r in by_registrable), default=0)

    def __len__(self) -> int:
        """How many reference domains (distinct, once normalised) the index holds."""
        return self._count

    def check(self, domain: str) -> Lookalike | None:
        """The first check (in `CHECKS` order) by which ``domain`` imitates a reference, or
        None. Never raises."""
        found = self._run(domain, first=True)
        return next(iter(found.values()), None)

    def check_each(self, domain: str) -> dict[str, Lookalike]:
        """Every check that fires on ``domain``, by name (in `CHECKS` order): for measuring
        the checks one by one. Never raises."""
        return self._run(domain, first=False)

    # ---- the checks ----

    def _run(self, domain: str, *, first: bool) -> dict[str, Lookalike]:
        found: dict[str, Lookalike] = {}
        if not self._by_registrable or not isinstance(domain, str):
            return found
        parts = split_domain(domain)
        if parts is None or parts.registrable in self._by_registrable:
            return found
        shape = skeleton(parts.label)
        foreign = bool(_scripts(parts.label))
        for name in CHECKS:
            if name == "confusable":
                hit = self._confusable(parts, shape)
            elif name == "public_suffix":
                hit = self._public_suffix(parts)
            elif name == "edit_distance":
                hit = self._edit_distance(parts)
            elif name == "mixed_scripts":
                hit = self._mixed_scripts(parts, shape) if foreign else None
            else:
                hit = self._leading_part(parts)
            if hit is not None:
                found[name] = hit
                if first:
                    break
        return found

    def _confusable(self, parts: Parts, shape: str) -> Lookalike | None:
        candidates = [r for r in self._by_skeleton.get(shape, ()) if r.label != parts.label]
        if not candidates:
            return None
        same = [r for r in candidates if r.suffix == parts.suffix]
        scripts = _scripts(parts.label)
        if scripts:
            detail = f" ({', '.join(scripts)})"
        else:
            detail = "" if parts.label.isascii() else " (accents)"
        if same:
            return Lookalike(
                parts.domain, same[0].domain, f"confusable characters{detail} of {same[0].domain}"
            )
        if len(parts.label) < EDIT_FROM:
            return None
        ref = candidates[0]
        return Lookalike(
            parts.domain,
            ref.domain,
            f"confusable characters{detail} of {ref.domain}, under another public suffix",
        )

    def _public_suffix(self, parts: Parts) -> Lookalike | None:
        if len(parts.label) < MIN_SWAP_LENGTH:
            return None
        for ref in self._by_label.get(parts.label, ()):
            if ref.suffix != parts.suffix:
                return Lookalike(
                    parts.domain, ref.domain, f"another public suffix than {ref.domain}"
                )
        return None

    def _nearest(
        self,
        text: str,
        buckets: dict[tuple[str, int], tuple[tuple[str, ...], tuple[_Reference, ...]]],
        suffix: str,
    ) -> tuple[_Reference, int] | None:
        """The reference nearest to ``text`` within its threshold among the buckets of
        ``suffix``, with its distance (the lowest, then the shortest reference)."""
        best: tuple[_Reference, int] | None = None
        size = len(text)
        for length in range(max(size - MAX_EDITS, EDIT_FROM), size + MAX_EDITS + 1):
            limit = max_edits(length)
            if abs(length - size) > limit:
                continue
            bucket = buckets.get((suffix, length))
            if bucket is None:
                continue
            match = process.extractOne(text, bucket[0], scorer=OSA.distance, score_cutoff=limit)
            if match is None:
                continue
            distance = int(match[1])
            if distance and (best is None or distance < best[1]):
                best = (bucket[1][match[2]], distance)
        return best

    def _edit_distance(self, parts: Parts) -> Lookalike | None:
        near = self._nearest(parts.label, self._label_buckets, parts.suffix)
        if near is None:
            return None
        ref, distance = near
        return Lookalike(parts.domain, ref.domain, f"{_characters(distance)} from {ref.domain}")

    def _mixed_scripts(self, parts: Parts, shape: str) -> Lookalike | None:
        near = self._nearest(shape, self._skeleton_buckets, parts.suffix)
        if near is None:
            return None
        ref, distance = near
        if _is_mixed_script(parts.label):
            found: set[str] = categories.unique_aliases(parts.label)
            scripts = " and ".join(sorted(s.title() for s in found if s not in NEUTRAL_SCRIPTS))
            what = f"mixed scripts ({scripts})"
        else:
            what = f"{' and '.join(_scripts(parts.label))} letters"
        return Lookalike(
            parts.domain, ref.domain, f"{what}, {_characters(distance)} from {ref.domain}"
        )

    def _leading_part(self, parts: Parts) -> Lookalike | None:
        leading = parts.leading
        for start in range(len(leading)):
            for end in range(start + 2, min(start + self._max_labels, len(leading)) + 1):
                ref = self._by_registrable.get(".".join(leading[start:end]))
                if ref is not None:
                    return Lookalike(
                        parts.domain,
                        ref.domain,
                        f"{ref.domain} in front of another domain ({parts.registrable})",
                    )
        return None
