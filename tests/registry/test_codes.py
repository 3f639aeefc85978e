"""Division codes, kinds read from names, urban–rural classes, identity numbers."""

import pytest

from shequ.errors import ValidationError
from shequ.registry.codes import (
    code_prefix,
    committee_kind_from_name,
    identity_check_character,
    level_of,
    normalise_code,
    parent_of,
    township_kind_from_name,
    urban_rural_class,
    validate_identity_number,
)
from shequ.registry.models import DivisionKind


@pytest.mark.parametrize(("given", "code", "level"), [
    ("11", "110000000000", 1),
    ("1301", "130100000000", 2),
    ("130123", "130123000000", 3),
    ("130123100", "130123100000", 4),
    ("130123100201", "130123100201", 5),
])
def test_codes_pad_to_twelve_digits_and_know_their_level(given: str, code: str, level: int
                                                         ) -> None:
    assert normalise_code(given) == code
    assert level_of(code) == level


def test_parent_and_prefix_follow_the_digit_layout() -> None:
    assert parent_of("130123100201", 5) == "130123100000"
    assert parent_of("130123100000", 4) == "130123000000"
    assert parent_of("110000000000", 1) is None
    assert code_prefix("130123000000", 3) == "130123"


@pytest.mark.parametrize("bad", ["abc", "1234567", "", "13012310020X"])
def test_a_malformed_code_is_rejected_with_a_hint(bad: str) -> None:
    with pytest.raises(ValidationError, match="not a division code"):
        normalise_code(bad)


@pytest.mark.parametrize(("name", "kind"), [
    ("建北街道办事处", DivisionKind.STREET),
    ("城关街办事处", DivisionKind.STREET),
    ("正定镇", DivisionKind.TOWN),
    ("北早现乡", DivisionKind.TOWNSHIP),
    ("巴彦苏木", DivisionKind.TOWNSHIP),
    ("经济技术开发区", DivisionKind.TOWNSHIP_LIKE),
])
def test_township_kind_is_read_from_the_name(name: str, kind: DivisionKind) -> None:
    assert township_kind_from_name(name) is kind


@pytest.mark.parametrize(("name", "kind"), [
    ("棉一社区居民委员会", DivisionKind.RESIDENTS_COMMITTEE),
    ("东关社区居委会", DivisionKind.RESIDENTS_COMMITTEE),
    ("塔元庄村委会", DivisionKind.VILLAGERS_COMMITTEE),
    ("乌兰嘎查村委员会", DivisionKind.VILLAGERS_COMMITTEE),
    ("某某农场生活区", DivisionKind.COMMITTEE_LIKE),
])
def test_committee_kind_is_read_from_the_name(name: str, kind: DivisionKind) -> None:
    assert committee_kind_from_name(name) is kind


def test_urban_rural_class_follows_the_units_kinds() -> None:
    rc, vc = DivisionKind.RESIDENTS_COMMITTEE, DivisionKind.VILLAGERS_COMMITTEE
    assert urban_rural_class(DivisionKind.STREET, rc, DivisionKind.DISTRICT) == "111"
    assert urban_rural_class(DivisionKind.TOWN, rc, DivisionKind.COUNTY) == "121"
    assert urban_rural_class(DivisionKind.TOWNSHIP, rc, DivisionKind.COUNTY) == "210"
    assert urban_rural_class(DivisionKind.TOWN, vc, DivisionKind.COUNTY) == "220"
    assert urban_rural_class(DivisionKind.STREET, vc, DivisionKind.DISTRICT) == "112"


def test_identity_check_character_matches_the_standards_worked_example() -> None:
    # GB 11643-1999's example number 11010519491231002X.
    assert identity_check_character("11010519491231002") == "X"
    assert validate_identity_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(("number", "reason"), [
    ("110105194912310021", "check character"),
    ("110105194913310029", "birth date"),
    ("1101051949123100", "17 digits"),
])
def test_a_wrong_identity_number_says_what_is_wrong(number: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        validate_identity_number(number)
