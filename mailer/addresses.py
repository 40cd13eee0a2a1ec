"""E-mail addresses: is this one mailable, what is its canonical form, is it a typo?

One rule for the whole mailer (lists, registrations, opt-outs, the send path): an address
is validated and normalised with email-validator (no DNS look-ups unless asked), then
lower-cased. The common case takes a fast path that a property test holds to the same
answer as the full check (:func:`validate_address`). The reasons a row is refused, and the
warnings it may get, are keyed by stable codes (:data:`REASONS`, also in ``--json``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from mailer.i18n import N_, _, current_language

# Control characters and line breaks, which no address and no one-line field may hold.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

ROLE_LOCALPARTS = {
    "info",
    "registrator",
    "kontakt",
    "contact",
    "admin",
    "reception",
    "kansli",
    "office",
    "support",
    "noreply",
    "no-reply",
    "postmaster",
    "webmaster",
    "kommun",
    "kundtjanst",
    "growth",
    "sales",
    "hello",
}


# Reasons and warnings by stable code (the code is also in --json); the text is the
# catalogue's, shown in the language of whoever reads it.
REASONS: dict[str, str] = {
    "empty": N_("empty address"),
    "control": N_("contains control characters"),
    "no_at": N_("no @ in the address"),
    "two_at": N_("more than one @"),
    "no_local": N_("nothing before the @"),
    "no_domain": N_("nothing after the @"),
    "space": N_("contains a space"),
    "display_name": N_("has a name and <>: give the address only"),
    "bad_local": N_("invalid characters before the @"),
    "double_dot": N_("two dots in a row"),
    "edge_dot": N_("a dot at the start or end of a part"),
    "bad_domain": N_("invalid domain"),
    "domain_no_dot": N_("invalid domain: no dot"),
    "reserved_domain": N_("invalid domain: a reserved name that takes no mail"),
    "no_mail_domain": N_("invalid domain: it takes no mail (DNS)"),
    "too_long": N_("the address is too long"),
    "invalid": N_("invalid address"),
    # warnings: the row is kept
    "role": N_("role address (kept, but perhaps no person reads it)"),
    "typo": N_("a typo? did you mean {suggestion}?"),
    "cleaned": N_("line break or control character in {field} replaced by a space"),
}


# The blanks of a reason that has some, in the order a problem's ``args`` fill them.
BLANKS: dict[str, tuple[str, ...]] = {"typo": ("suggestion",), "cleaned": ("field",)}


def say(code: str, *args: str) -> str:
    """The text for a reason or warning code, in the current language."""
    text = REASONS.get(code)
    if text is None:
        return code
    return _(text).format(**dict(zip(BLANKS.get(code, ()), args, strict=False)))


class AddressError(ValueError):
    """An address that cannot be mailed; ``code`` keys :data:`REASONS`, ``detail`` says more.

    The detail is email-validator's own words, which are English: shown in English only.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        english = detail and current_language() == "en"
        super().__init__(say(code) + (f" ({detail})" if english else ""))
        self.code = code
        self.detail = detail


# email-validator's messages (English only) mapped to our codes, first match wins.
_VALIDATOR_CODES = (
    ("must have an @-sign", "no_at"),
    ("something before the @-sign", "no_local"),
    ("something after the @-sign", "no_domain"),
    ("display name", "display_name"),
    ("too long", "too_long"),
    ("two periods in a row", "double_dot"),
    ("special-use or reserved", "reserved_domain"),
    ("should have a period", "domain_no_dot"),
    ("does not exist", "no_mail_domain"),
    ("does not accept email", "no_mail_domain"),
    ("not accept email", "no_mail_domain"),
    ("SPACE", "space"),
    ("before the @-sign", "bad_local"),
    ("start with a period", "edge_dot"),
    ("end with a period", "edge_dot"),
    ("after the @-sign", "bad_domain"),
    ("domain", "bad_domain"),
)


def address_error(exc: EmailNotValidError) -> AddressError:
    """email-validator's refusal as ours: a reason from the catalogue (its code as in
    --json), with email-validator's English words as the detail only an English reader sees."""
    message = str(exc).rstrip(".")
    return AddressError(_code_for(message), message)


def _code_for(message: str) -> str:
    for needle, code in _VALIDATOR_CODES:
        if needle in message:
            return code
    return "invalid"


# The common case at one regular expression: an ASCII dot-atom local part (RFC 5322 atext),
# which email-validator accepts as it is, at a domain that is validated once. Anything else
# (quotes, Unicode local parts, a bad domain, extreme lengths) takes the full check, and a
# property test holds both to the same answer on every input.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_COMMON = re.compile(rf"\s*({_ATEXT}+(?:\.{_ATEXT}+)*)@([^\s@]+)\s*")
_MAX_ADDRESS = 254  # bytes, email-validator's EMAIL_MAX_LENGTH


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, int] | None:
    """(normalised form in lower case, longest form in bytes) of a valid domain, else None."""
    try:
        result = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    longest = max(len(domain.encode()), len(result.domain.encode()), len(result.ascii_domain))
    return result.domain.lower(), longest


def normalise_address(raw: str, *, check_dns: bool = False) -> str:
    """The canonical, lower-cased form of an address, or AddressError with the reason."""
    return _normalise_with_dns(raw) if check_dns else _remembered(raw)


def normaliser(*, check_dns: bool = False, remember: bool = True) -> Callable[[str], str]:
    """:func:`normalise_address` as a function of one address, for a loop over many.

    ``remember=False`` keeps no cache: right for a list, whose addresses are mostly
    distinct. The function itself is returned, so a 100,000-row loop pays no extra call.
    """
    if check_dns:
        return _normalise_with_dns
    return _remembered if remember else _normalise


def _normalise(raw: str) -> str:
    common = _COMMON.fullmatch(raw)
    if common is not None:
        local, domain = common.groups()
        checked = _domain(domain)
        if checked is not None and len(local) + 1 + checked[1] <= _MAX_ADDRESS:
            # lower(), not casefold(): casefold turns a real "ß" into "ss", another mailbox.
            return f"{local.lower()}@{checked[0]}"
    return validate_address(raw)


# The same address is checked again and again on the send path: remembered there. A merge
# uses normaliser(remember=False), as a list's addresses are mostly distinct: remembering 100,000
# of them cost more than checking the few repeated ones twice. One argument each, so the
# caches key on the string itself, with no tuple per address.
_remembered = lru_cache(maxsize=16384)(_normalise)


@lru_cache(maxsize=4096)
def _normalise_with_dns(raw: str) -> str:
    return validate_address(raw, check_dns=True)


def clear_caches() -> None:
    """Forget every address and domain checked so far (the benchmarks start cold)."""
    for cached in (_remembered, _normalise_with_dns, _domain, likely_typo):
        cached.cache_clear()


def validate_address(raw: str, *, check_dns: bool = False) -> str:
    """The full check, with no fast path and no cache: the reference the fast path keeps to.

    The reason for a bad address is ours; email-validator judges the rest.
    """
    value = raw.strip()
    if value.startswith("<") or value.endswith(">"):
        value = value.strip("<>").strip()
    if not value:
        raise AddressError("empty")
    if not value.isprintable() and CONTROL_CHARACTERS.search(value):
        raise AddressError("control")
    at = value.count("@")
    if not at:
        raise AddressError("no_at")
    if at > 1 and not value.startswith('"'):
        raise AddressError("two_at")
    try:
        normalised = validate_email(value, check_deliverability=check_dns).normalized
    except EmailNotValidError as exc:
        raise address_error(exc) from None
    local, _, domain = normalised.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


# Domains people mistype most, plus every member's own: a near miss gets a warning.
COMMON_DOMAINS = (
    "gmail.com",
    "hotmail.com",
    "hotmail.se",
    "outlook.com",
    "outlook.se",
    "live.se",
    "live.com",
    "yahoo.com",
    "yahoo.se",
    "icloud.com",
    "me.com",
    "msn.com",
    "telia.com",
    "bredband.net",
    "comhem.se",
    "spray.se",
    "bahnhof.se",
    "protonmail.com",
)


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, stopping past ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=4096)
def likely_typo(domain: str, known: tuple[str, ...]) -> str | None:
    """The known domain this one is probably a typo of, or None."""
    if domain in known or any(domain.endswith("." + k) for k in known):
        return None
    for candidate in known:
        limit = 2 if min(len(domain), len(candidate)) >= 10 else 1
        if _distance(domain, candidate, limit) <= limit:
            return candidate
    return None
