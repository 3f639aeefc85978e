"""Codes and identifiers: 12-digit division codes, NBS digit ranges, urban–rural classes,
kinds read from names, and the GB 11643 resident identity number check.

NBS code = province 2 + prefecture 2 + county 2 + township 3 + village 3.  The township
part's range tells its kind (001–099 street, 100–199 town, 200–399 township, 400–599
township-like); the village part's range tells committee kind (001–199 residents',
200–399 villagers'; 400–599 committee-like is a Shequ assumption, DOMAIN.md §3).
"""

from __future__ import annotations

import stdnum.exceptions as stdnum_errors
from stdnum.cn import ric

from shequ.errors import Problem, ValidationError
from shequ.registry.levels import DivisionKind, DivisionLevel

LEVEL_DIGITS = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}

# Inclusive ranges of the township part (digits 7–9) by kind.
TOWNSHIP_RANGES: dict[DivisionKind, tuple[int, int]] = {
    DivisionKind.STREET: (1, 99),
    DivisionKind.TOWN: (100, 199),
    DivisionKind.TOWNSHIP: (200, 399),
    DivisionKind.TOWNSHIP_LIKE: (400, 599),
}
# Inclusive ranges of the village part (digits 10–12) by kind.
VILLAGE_RANGES: dict[DivisionKind, tuple[int, int]] = {
    DivisionKind.RESIDENTS_COMMITTEE: (1, 199),
    DivisionKind.VILLAGERS_COMMITTEE: (200, 399),
    DivisionKind.COMMITTEE_LIKE: (400, 599),
}

URBAN_RURAL_CLASSES = {
    "111": "主城区 main urban area",
    "112": "城乡结合区 urban–rural fringe",
    "121": "镇中心区 town centre",
    "122": "镇乡结合区 town–village fringe",
    "123": "特殊区域 special area",
    "210": "乡中心区 rural township centre",
    "220": "村庄 village",
}


def normalise_code(code: str | int, *, where: str = "code") -> str:
    """A 12-digit code from 2-, 4-, 6-, 9- or 12-digit input (padded with zeros)."""
    text = str(code).strip()
    if not text.isdigit() or len(text) not in (2, 4, 6, 9, 12):
        raise ValidationError([Problem(
            where, f"{text!r} is not a division code",
            hint="use the 12-digit NBS code, or its 2/4/6/9-digit prefix",
        )])
    return text.ljust(12, "0")


def level_of(code: str) -> int:
    """The level a 12-digit code denotes, from its trailing zeros."""
    if code[2:] == "0" * 10:
        return 1
    if code[4:] == "0" * 8:
        return 2
    if code[6:] == "0" * 6:
        return 3
    if code[9:] == "000":
        return 4
    return 5


def code_prefix(code: str, level: int) -> str:
    """The digits of ``code`` that every unit under it shares (its jurisdiction prefix)."""
    return code[: LEVEL_DIGITS[level]]


def parent_of(code: str, level: int) -> str | None:
    """The parent's 12-digit code implied by ``code`` (None for a province)."""
    if level <= 1:
        return None
    return code[: LEVEL_DIGITS[level - 1]].ljust(12, "0")


def township_kind_from_name(name: str) -> DivisionKind:
    """Street, town, township or township-like, read from a township-level name."""
    if "街道" in name or name.endswith("办事处"):
        return DivisionKind.STREET
    if name.endswith("镇"):
        return DivisionKind.TOWN
    if name.endswith(("乡", "苏木")):
        return DivisionKind.TOWNSHIP
    return DivisionKind.TOWNSHIP_LIKE


_VILLAGE_MARKS = ("村委", "村民委员会", "嘎查", "牧委会", "牧民委员会")
_RESIDENT_MARKS = ("社区", "居委", "居民委")


def committee_kind_from_name(name: str) -> DivisionKind:
    """Residents', villagers' or committee-like, read from a community-level name.

    The ending decides first (a 嘎查村居委会 is a residents' committee); marks inside the
    name decide the rest (村民委员会（筹）, 嘎查牧委会, 社区委员会 …).
    """
    if name.endswith(("居委会", "居民委员会", "社区")):
        return DivisionKind.RESIDENTS_COMMITTEE
    if name.endswith(("村委会", "村民委员会", "村", "嘎查")):
        return DivisionKind.VILLAGERS_COMMITTEE
    if any(mark in name for mark in _VILLAGE_MARKS) or name.endswith("村"):
        return DivisionKind.VILLAGERS_COMMITTEE
    if any(mark in name for mark in _RESIDENT_MARKS):
        return DivisionKind.RESIDENTS_COMMITTEE
    return DivisionKind.COMMITTEE_LIKE


def county_kind_from_name(name: str) -> DivisionKind:
    """District, county, county-level city, banner … read from a county-level name."""
    if name.endswith("自治县") or name.endswith("自治旗"):
        return DivisionKind.AUTONOMOUS_COUNTY
    if name.endswith("区"):
        return DivisionKind.DISTRICT
    if name.endswith("县"):
        return DivisionKind.COUNTY
    if name.endswith("市"):
        return DivisionKind.COUNTY_CITY
    if name.endswith("旗"):
        return DivisionKind.BANNER
    return DivisionKind.SPECIAL_DISTRICT


def prefecture_kind_from_name(name: str) -> DivisionKind:
    """Prefecture-level city, autonomous prefecture, area, league, or a municipality's part."""
    if name == "市辖区":
        return DivisionKind.MUNICIPAL_DISTRICTS
    if name == "县":
        return DivisionKind.MUNICIPAL_COUNTIES
    if name.endswith("自治州"):
        return DivisionKind.AUTONOMOUS_PREFECTURE
    if name.endswith("地区"):
        return DivisionKind.PREFECTURE_AREA
    if name.endswith("盟"):
        return DivisionKind.LEAGUE
    return DivisionKind.PREFECTURE_CITY


def province_kind_from_name(name: str) -> DivisionKind:
    """Province, municipality or autonomous region."""
    if name.endswith("自治区"):
        return DivisionKind.AUTONOMOUS_REGION
    if name in ("北京市", "天津市", "上海市", "重庆市"):
        return DivisionKind.MUNICIPALITY
    return DivisionKind.PROVINCE


def urban_rural_class(township_kind: DivisionKind, committee_kind: DivisionKind,
                      county_kind: DivisionKind) -> str:
    """The urban–rural class code a community-level unit most plausibly has.

    Derived from kinds when the statistical class is not given: a residents' committee
    under a street is main urban area (111), under a town the town centre (121), under a
    township the township centre (210); a villagers' committee is a village (220), or
    urban–rural fringe (112) when it lies under a street of a city district;
    committee-like units (farms, parks, campuses) are special areas (123).
    """
    if committee_kind is DivisionKind.COMMITTEE_LIKE:
        return "123"
    if committee_kind is DivisionKind.RESIDENTS_COMMITTEE:
        if township_kind is DivisionKind.STREET:
            return "111"
        if township_kind is DivisionKind.TOWNSHIP:
            return "210"
        return "121"
    if township_kind is DivisionKind.STREET and county_kind is DivisionKind.DISTRICT:
        return "112"
    return "220"


def is_urban_class(code: str | None) -> bool:
    """True for 1xx classes (urban), False for 2xx (rural) and unknown."""
    return bool(code) and str(code).startswith("1")


_LEVEL_OF_KIND: dict[DivisionKind, DivisionLevel] = {
    **dict.fromkeys((DivisionKind.PROVINCE, DivisionKind.MUNICIPALITY,
                     DivisionKind.AUTONOMOUS_REGION), DivisionLevel.PROVINCE),
    **dict.fromkeys((DivisionKind.PREFECTURE_CITY, DivisionKind.AUTONOMOUS_PREFECTURE,
                     DivisionKind.PREFECTURE_AREA, DivisionKind.LEAGUE,
                     DivisionKind.MUNICIPAL_DISTRICTS, DivisionKind.MUNICIPAL_COUNTIES),
                    DivisionLevel.PREFECTURE),
    **dict.fromkeys((DivisionKind.DISTRICT, DivisionKind.COUNTY, DivisionKind.COUNTY_CITY,
                     DivisionKind.BANNER, DivisionKind.AUTONOMOUS_COUNTY,
                     DivisionKind.SPECIAL_DISTRICT), DivisionLevel.COUNTY),
    **dict.fromkeys((DivisionKind.STREET, DivisionKind.TOWN, DivisionKind.TOWNSHIP,
                     DivisionKind.TOWNSHIP_LIKE), DivisionLevel.TOWNSHIP),
    **dict.fromkeys((DivisionKind.RESIDENTS_COMMITTEE, DivisionKind.VILLAGERS_COMMITTEE,
                     DivisionKind.COMMITTEE_LIKE), DivisionLevel.COMMUNITY),
}


def expected_level(kind: DivisionKind) -> DivisionLevel:
    """The level a kind belongs to."""
    return _LEVEL_OF_KIND[kind]


# GB 11643-1999 resident identity number: python-stdnum's ``stdnum.cn.ric`` computes the
# ISO 7064 MOD 11-2 check character and reads the birth date.  Its ``validate`` also
# looks the first six digits up in its own list of counties, which would refuse numbers
# of areas renamed since it was built, so only the two checks are used.


def identity_check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")  # it reads the digits before the last one


def validate_identity_number(value: str) -> str:
    """The number upper-cased if it is a valid 18-character GB 11643 number, else raise."""
    text = value.strip().upper()
    if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise ValidationError([Problem("identity_number", "must be 17 digits and a check "
                                       "character (a digit or X)")])
    try:
        ric.get_birth_date(text)
    except stdnum_errors.ValidationError:
        raise ValidationError([Problem("identity_number",
                                       f"digits 7–14 ({text[6:14]}) are not a birth date")]
                              ) from None
    if ric.calc_check_digit(text) != text[17]:
        raise ValidationError([Problem("identity_number", "the check character does not "
                                       "match; a digit was probably mistyped")])
    return text
