"""The indicator expression language: parse and type-check numerators and denominators.

An indicator is ``factor × numerator ÷ denominator`` where both sides are *additive*
expressions over registry measures, so that they roll up the hierarchy by summation
(percentages are never averaged).  The grammar, in full::

    expr       := term (("+" | "-") term)*
    term       := unary (("*" | "/") NUMBER)*          # scale by a number only
    unary      := "-" unary | primary
    primary    := NUMBER | measure | "(" expr ")"
    measure    := NAME [ "(" args ")" ] [ "[" cond "]" ]
    args       := arg ("," arg)*
    arg        := NAME | NUMBER | NAME "=" value ("|" value)*
    cond       := conj ("or" conj)*
    conj       := neg ("and" neg)*
    neg        := "not" neg | "(" cond ")" | predicate | expr CMP NUMBER
    predicate  := "urban" | "rural" | "class" "(" NUMBER ("," NUMBER)* ")"
                | "kind" "(" NAME ("," NAME)* ")" | "has" "(" NAME ("," NAME)* ")"
    CMP        := ">=" | ">" | "<=" | "<" | "==" | "!="

Measures (each has a *dimension*; only equal dimensions may be added):

=========================  ==========  ==================================================
``units``                  units       community-level units (communities and villages)
``facilities(T…)``         facilities  facilities of types T in service in the period
``floor_area(T…)``         m2          their floor area
``activity_area(T…)``      m2          their residents' activity area
``capacity(T…)``           places      their capacity (places, beds, seats)
``residents``, ``age_0_2``,
``age_3_5``, ``age_6_14``,
``age_60_plus``,
``age_80_plus``,
``disabled``               persons     population of the period
``households``,
``assisted_households``    households  households of the period
``workers(R…)``            workers     workforce headcount of roles R (``certified`` or
                                       ``certification=a|b`` narrows it)
``residents_within(T, d)`` persons     residents × covered share within d m of type T
                                       (and ``age_60_plus_within`` … for every person
                                       measure; ``households_within``)
``input(name)``            declared    a value from the indicator input table
=========================  ==========  ==================================================

Facility measures accept ``status=a|b`` (then the current status decides, without the
date rule) and ``floor_area_below=N`` / ``floor_area_at_least=N``.  A filter in
``[...]`` keeps the holding divisions that satisfy it; ``urban``, ``rural``, ``class``
and ``kind`` are true only for community-level units, ``has(T)`` is true where the
division itself holds at least one facility of type T in service.

Nothing here evaluates Python or SQL: the parser builds a small tree of dataclasses
which the engine walks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from shequ.errors import ExpressionError

NUMBER_RE = r"\d+(?:\.\d+)?"
TOKEN_RE = re.compile(
    rf"\s*(?:(?P<number>{NUMBER_RE})|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>>=|<=|==|!=|[-+*/()\[\],=|<>]))"
)

COMPARISONS = (">=", ">", "<=", "<", "==", "!=")
PERSON_MEASURES = ("residents", "age_0_2", "age_3_5", "age_6_14", "age_60_plus",
                   "age_80_plus", "disabled")
HOUSEHOLD_MEASURES = ("households", "assisted_households")
FACILITY_MEASURES = {"facilities": "facilities", "floor_area": "m2",
                     "activity_area": "m2", "capacity": "places"}
FACILITY_OPTIONS = ("status", "floor_area_below", "floor_area_at_least")
FACILITY_STATUSES = ("planned", "under_construction", "accepted", "in_service", "closed")
WORKER_ROLES = ("community_worker", "social_worker", "volunteer")
CERTIFICATIONS = ("none", "assistant_social_worker", "social_worker", "senior_social_worker")
PREDICATES = ("urban", "rural", "class", "kind", "has")
KINDS = ("residents_committee", "villagers_committee", "committee_like")
DIMENSIONS = ("units", "facilities", "m2", "places", "persons", "households", "workers")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token and the column (1-based) where it starts."""

    kind: str  # "number", "name", "op" or "end"
    text: str
    column: int


# --- the tree ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    """A numeric constant."""

    value: float


@dataclass(frozen=True, slots=True)
class Measure:
    """A registry measure with its arguments and an optional holder filter."""

    name: str
    dimension: str
    types: tuple[str, ...] = ()
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    distance_m: int | None = None
    filter: Condition | None = None

    def option(self, key: str) -> tuple[str, ...] | None:
        """The values given for keyword option ``key`` (None when absent)."""
        for name, values in self.options:
            if name == key:
                return values
        return None

    @property
    def key(self) -> str:
        """A canonical text used to share evaluated vectors between indicators."""
        return render(self)


@dataclass(frozen=True, slots=True)
class BinOp:
    """``left + right`` or ``left - right`` (same dimension)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Scale:
    """``expr * factor`` (division by a number is stored as its reciprocal)."""

    expr: Expr
    factor: float


Expr = Number | Measure | BinOp | Scale


@dataclass(frozen=True, slots=True)
class Attribute:
    """``urban``, ``rural``, ``class(111, 112)``, ``kind(villagers_committee)``."""

    name: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Has:
    """The holder itself has at least one in-service facility of one of ``types``."""

    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """A holder-level measure compared with a number, e.g. ``floor_area(x) >= 300``."""

    expr: Expr
    op: str
    value: float


@dataclass(frozen=True, slots=True)
class Logic:
    """``and`` / ``or`` of conditions."""

    op: str
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of a condition."""

    cond: Condition


Condition = Attribute | Has | Compare | Logic | Not


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What names an expression may use: facility types and declared inputs."""

    facility_types: Collection[str]
    inputs: Mapping[str, str] = field(default_factory=dict)  # name → dimension


# --- rendering (canonical text) ------------------------------------------------------


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def render(node: Expr | Condition) -> str:  # noqa: PLR0911 (one return per node kind)
    """Canonical text of a tree (parsing it again gives the same tree)."""
    if isinstance(node, Number):
        return _fmt(node.value)
    if isinstance(node, Measure):
        args = list(node.types)
        if node.distance_m is not None:
            args.append(str(node.distance_m))
        args += [f"{k}={'|'.join(v)}" for k, v in node.options]
        text = node.name + (f"({', '.join(args)})" if args else "")
        if node.filter is not None:
            text += f"[{render(node.filter)}]"
        return text
    if isinstance(node, BinOp):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    if isinstance(node, Scale):
        return f"({render(node.expr)} * {_fmt(node.factor)})"
    if isinstance(node, Attribute):
        return node.name + (f"({', '.join(node.values)})" if node.values else "")
    if isinstance(node, Has):
        return f"has({', '.join(node.types)})"
    if isinstance(node, Compare):
        return f"{render(node.expr)} {node.op} {_fmt(node.value)}"
    if isinstance(node, Logic):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    return f"not {render(node.cond)}"


def measures_of(node: Expr | Condition) -> list[Measure]:
    """Every measure in a tree, outer ones first (filters' measures included)."""
    found: list[Measure] = []
    if isinstance(node, Measure):
        found.append(node)
        if node.filter is not None:
            found += measures_of(node.filter)
    elif isinstance(node, BinOp | Logic):
        found += measures_of(node.left) + measures_of(node.right)
    elif isinstance(node, Scale | Compare):
        found += measures_of(node.expr)
    elif isinstance(node, Not):
        found += measures_of(node.cond)
    return found


def facility_types_of(node: Expr | Condition) -> set[str]:
    """Every facility type a tree refers to (in measures and ``has``)."""
    types: set[str] = set()
    stack: list[Expr | Condition] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Measure):
            types.update(item.types)
            if item.filter is not None:
                stack.append(item.filter)
        elif isinstance(item, Has):
            types.update(item.types)
        elif isinstance(item, BinOp | Logic):
            stack += [item.left, item.right]
        elif isinstance(item, Scale | Compare):
            stack.append(item.expr)
        elif isinstance(item, Not):
            stack.append(item.cond)
    return types


# --- parsing -------------------------------------------------------------------------


def tokenize(text: str, *, where: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character raises ExpressionError."""
    tokens: list[Token] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = TOKEN_RE.match(stripped, pos)
        if match is None or match.end() == pos:
            col = pos + 1 + (len(stripped[pos:]) - len(stripped[pos:].lstrip()))
            raise ExpressionError(
                f"{where}: unexpected character {stripped[col - 1]!r} at column {col} in "
                f"{text!r}; use measure names, numbers, + - * / ( ) [ ] and comparisons"
            )
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(stripped) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str, vocabulary: Vocabulary, where: str) -> None:
        self.text = text
        self.vocabulary = vocabulary
        self.where = where
        self.tokens = tokenize(text, where=where)
        self.pos = 0

    # helpers
    def error(self, message: str, token: Token | None = None, hint: str = "") -> ExpressionError:
        token = token or self.peek()
        tail = f"; {hint}" if hint else ""
        return ExpressionError(
            f"{self.where}: {message} at column {token.column} in {self.text!r}{tail}"
        )

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token.kind in ("op", "name") and token.text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token.text != text or token.kind == "end":
            shown = "the end" if token.kind == "end" else repr(token.text)
            raise self.error(f"expected {text!r} but found {shown}", token)
        return self.take()

    # grammar
    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.error("the expression is empty", hint="write a measure such as 'units'")
        node = self.expr()
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self.peek().text!r}",
                             hint="join terms with + or -, scale with * NUMBER")
        return node

    def expr(self) -> Expr:
        left = self.term()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op_token = self.take()
            right = self.term()
            left_dim, right_dim = dimension_of(left), dimension_of(right)
            if left_dim is not None and right_dim is not None and left_dim != right_dim:
                raise self.error(
                    f"type mismatch: cannot {'add' if op_token.text == '+' else 'subtract'} "
                    f"{right_dim} {'to' if op_token.text == '+' else 'from'} {left_dim}",
                    op_token, hint="both sides of + and - must measure the same thing")
            left = BinOp(op_token.text, left, right)
        return left

    def term(self) -> Expr:
        node = self.unary()
        while self.peek().text in ("*", "/") and self.peek().kind == "op":
            op_token = self.take()
            if op_token.text == "*" and isinstance(node, Number):
                node = Scale(self.unary(), node.value)
                continue
            operand = self.peek()
            if operand.kind != "number":
                verb = "multiplied" if op_token.text == "*" else "divided"
                raise self.error(
                    f"a measure can only be {verb} by a number", operand,
                    hint="indicators are ratios of sums; put the division between numerator "
                         "and denominator, not inside one")
            self.take()
            value = float(operand.text)
            if op_token.text == "/":
                if value == 0:
                    raise self.error("division by zero", operand)
                value = 1.0 / value
            node = Scale(node, value)
        return node

    def unary(self) -> Expr:
        if self.peek().kind == "op" and self.peek().text == "-":
            self.take()
            return Scale(self.unary(), -1.0)
        return self.primary()

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind == "number":
            self.take()
            return Number(float(token.text))
        if token.kind == "op" and token.text == "(":
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        if token.kind == "name":
            return self.measure()
        shown = "the end" if token.kind == "end" else repr(token.text)
        raise self.error(f"expected a measure or a number but found {shown}")

    def args(self) -> list[tuple[Token, str | None, list[str]]]:
        """``(name_token, keyword or None, values)`` for each argument."""
        found: list[tuple[Token, str | None, list[str]]] = []
        if not self.accept("("):
            return found
        if self.accept(")"):
            return found
        while True:
            token = self.take()
            if token.kind not in ("name", "number"):
                raise self.error(f"expected an argument but found {token.text!r}", token)
            if self.accept("="):
                values = [self.take().text]
                while self.accept("|"):
                    values.append(self.take().text)
                found.append((token, token.text, values))
            else:
                found.append((token, None, [token.text]))
            if self.accept(")"):
                return found
            self.expect(",")

    def check_types(self, token: Token, names: list[str]) -> tuple[str, ...]:
        known = self.vocabulary.facility_types
        for name in names:
            if name not in known:
                raise self.error(f"unknown facility type {name!r}", token,
                                 hint=f"known types: {', '.join(sorted(known))}")
        return tuple(names)

    def measure(self) -> Measure:  # noqa: PLR0912, PLR0915 (one branch per measure family)
        token = self.take()
        name = token.text
        if name in PREDICATES:
            raise self.error(f"{name!r} is a condition, not a measure", token,
                             hint="use it inside a filter, e.g. units[urban]")
        args = self.args()
        positional = [(t, v[0]) for t, k, v in args if k is None]
        keywords = [(t, k, v) for t, k, v in args if k is not None]
        measure: Measure
        if name == "units":
            if args:
                raise self.error("'units' takes no arguments", token,
                                 hint="filter units with [...], e.g. units[rural]")
            measure = Measure("units", "units")
        elif name in FACILITY_MEASURES:
            if not positional:
                raise self.error(f"{name}() needs at least one facility type", token)
            types = self.check_types(token, [v for _, v in positional])
            options: list[tuple[str, tuple[str, ...]]] = []
            for t, key, values in keywords:
                if key not in FACILITY_OPTIONS:
                    raise self.error(f"unknown option {key!r} of {name}()", t,
                                     hint=f"options: {', '.join(FACILITY_OPTIONS)}")
                if key == "status":
                    for value in values:
                        if value not in FACILITY_STATUSES:
                            raise self.error(f"unknown facility status {value!r}", t,
                                             hint=f"statuses: {', '.join(FACILITY_STATUSES)}")
                elif len(values) != 1 or not re.fullmatch(NUMBER_RE, values[0]):
                    raise self.error(f"option {key!r} needs one number", t)
                options.append((str(key), tuple(values)))
            measure = Measure(name, FACILITY_MEASURES[name], types=types,
                              options=tuple(options))
        elif name in PERSON_MEASURES or name in HOUSEHOLD_MEASURES:
            if args:
                raise self.error(f"{name!r} takes no arguments", token,
                                 hint=f"for coverage write {name}_within(type, distance_m)")
            measure = Measure(name, "persons" if name in PERSON_MEASURES else "households")
        elif name.endswith("_within") and name[: -len("_within")] in (
                *PERSON_MEASURES, *HOUSEHOLD_MEASURES):
            base = name[: -len("_within")]
            if len(positional) != 2 or keywords or positional[1][1] is None:
                raise self.error(f"{name}() takes a facility type and a distance in metres",
                                 token, hint=f"e.g. {name}(elderly_day_care, 1000)")
            types = self.check_types(token, [positional[0][1]])
            distance_text = positional[1][1]
            if not distance_text.isdigit():
                raise self.error(f"distance {distance_text!r} must be whole metres",
                                 positional[1][0])
            measure = Measure(name, "persons" if base in PERSON_MEASURES else "households",
                              types=types, distance_m=int(distance_text))
        elif name == "workers":
            roles = [v for _, v in positional if v != "certified"]
            for role in roles:
                if role not in WORKER_ROLES:
                    raise self.error(f"unknown workforce role {role!r}", token,
                                     hint=f"roles: {', '.join(WORKER_ROLES)}")
            worker_options: list[tuple[str, tuple[str, ...]]] = []
            if any(v == "certified" for _, v in positional):
                worker_options.append(("certification", tuple(
                    c for c in CERTIFICATIONS if c != "none")))
            for t, key, values in keywords:
                if key != "certification":
                    raise self.error(f"unknown option {key!r} of workers()", t,
                                     hint="only certification=a|b (or the word certified)")
                for value in values:
                    if value not in CERTIFICATIONS:
                        raise self.error(f"unknown certification {value!r}", t,
                                         hint=f"certifications: {', '.join(CERTIFICATIONS)}")
                worker_options.append(("certification", tuple(values)))
            if len(worker_options) > 1:
                raise self.error("give 'certified' or certification=…, not both", token)
            measure = Measure("workers", "workers", types=tuple(roles or WORKER_ROLES),
                              options=tuple(worker_options))
        elif name == "input":
            if len(positional) != 1 or keywords:
                raise self.error("input() takes the name of one declared input", token)
            input_name = positional[0][1]
            if input_name not in self.vocabulary.inputs:
                declared = ", ".join(sorted(self.vocabulary.inputs)) or "none"
                raise self.error(f"input {input_name!r} is not declared", positional[0][0],
                                 hint=f"declare it under [inputs] in the catalog; declared: "
                                      f"{declared}")
            measure = Measure("input", self.vocabulary.inputs[input_name],
                              types=(input_name,))
        else:
            raise self.error(f"unknown measure {name!r}", token, hint=f"known measures: "
                             f"{', '.join(known_measures())}")
        if self.accept("["):
            condition = self.condition()
            self.expect("]")
            measure = Measure(measure.name, measure.dimension, measure.types, measure.options,
                              measure.distance_m, condition)
        return measure

    def condition(self) -> Condition:
        left = self.conjunction()
        while self.accept("or"):
            left = Logic("or", left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.negation()
        while self.accept("and"):
            left = Logic("and", left, self.negation())
        return left

    def negation(self) -> Condition:
        if self.accept("not"):
            return Not(self.negation())
        token = self.peek()
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        if token.kind == "name" and token.text in PREDICATES:
            return self.predicate()
        if token.kind == "end" or token.text == "]":
            raise self.error("the filter is empty or unfinished",
                             hint="e.g. [urban], [rural and has(village_clinic)]")
        left = self.expr()
        op = self.peek()
        if op.text not in COMPARISONS:
            raise self.error("type mismatch: a filter needs a condition, not a quantity", op,
                             hint="compare it with a number, e.g. floor_area(x) >= 300")
        self.take()
        number = self.take()
        if number.kind != "number":
            raise self.error(f"expected a number after {op.text!r}", number)
        return Compare(left, op.text, float(number.text))

    def predicate(self) -> Condition:
        token = self.take()
        args = self.args()
        if any(k is not None for _, k, _ in args):
            raise self.error(f"{token.text}() takes no keyword options", token)
        values = [v[0] for _, _, v in args]
        if token.text in ("urban", "rural"):
            if values:
                raise self.error(f"{token.text!r} takes no arguments", token)
            return Attribute(token.text)
        if token.text == "class":
            if not values or not all(re.fullmatch(r"[12]\d\d", v) for v in values):
                raise self.error("class() takes 3-digit urban–rural class codes", token,
                                 hint="e.g. class(111, 112)")
            return Attribute("class", tuple(values))
        if token.text == "kind":
            bad = [v for v in values if v not in KINDS]
            if not values or bad:
                raise self.error("kind() takes committee kinds", token,
                                 hint=f"kinds: {', '.join(KINDS)}")
            return Attribute("kind", tuple(values))
        if not values:
            raise self.error("has() needs a facility type", token)
        return Has(self.check_types(token, values))


def known_measures() -> list[str]:
    """The measure names the language knows (for error messages and documentation)."""
    within = [f"{m}_within" for m in (*PERSON_MEASURES, *HOUSEHOLD_MEASURES)]
    return ["units", *FACILITY_MEASURES, *PERSON_MEASURES, *HOUSEHOLD_MEASURES, "workers",
            *within, "input"]


def dimension_of(node: Expr) -> str | None:
    """The dimension of an expression (None for a pure number)."""
    if isinstance(node, Number):
        return None
    if isinstance(node, Measure):
        return node.dimension
    if isinstance(node, Scale):
        return dimension_of(node.expr)
    return dimension_of(node.left) or dimension_of(node.right)


def parse_expression(text: str, vocabulary: Vocabulary, *, where: str = "expression") -> Expr:
    """Parse and type-check one additive expression; ExpressionError says what and where."""
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: expected a text expression, got {type(text).__name__}")
    return _Parser(text, vocabulary, where).parse()


@dataclass(frozen=True, slots=True)
class Definition:
    """A checked indicator definition: ``factor × numerator ÷ denominator``."""

    numerator: Expr
    denominator: Expr | None
    factor: float

    @property
    def numerator_dimension(self) -> str | None:
        """What the numerator counts."""
        return dimension_of(self.numerator)

    @property
    def denominator_dimension(self) -> str | None:
        """What the denominator counts (None without a denominator)."""
        return None if self.denominator is None else dimension_of(self.denominator)


def parse_definition(numerator: str, denominator: str | None, *, factor: float,
                     unit: str, vocabulary: Vocabulary, where: str) -> Definition:
    """Parse both sides and check they make a ratio that can be rolled up.

    The denominator must contain a measure (dividing by a bare number is a "division by
    a non-count": it would not roll up); a percentage must divide like by like.
    """
    num = parse_expression(numerator, vocabulary, where=f"{where}, numerator")
    if dimension_of(num) is None:
        raise ExpressionError(f"{where}, numerator: {numerator!r} has no measure; an "
                              "indicator counts something from the registry")
    den: Expr | None = None
    if denominator is not None:
        den = parse_expression(denominator, vocabulary, where=f"{where}, denominator")
        if dimension_of(den) is None:
            raise ExpressionError(
                f"{where}, denominator: division by a non-count: {denominator!r} has no "
                "measure, so it cannot be summed up the hierarchy; put the constant into "
                "'factor' or divide by a measure such as households")
        if unit == "%" and dimension_of(num) != dimension_of(den):
            raise ExpressionError(
                f"{where}: type mismatch: a percentage divides like by like, but the "
                f"numerator counts {dimension_of(num)} and the denominator "
                f"{dimension_of(den)}; change the unit or the definition")
    if not factor > 0:
        raise ExpressionError(f"{where}: factor {factor} must be a positive number "
                              "(100 for percent, 10000 for per 10,000 …)")
    return Definition(num, den, float(factor))


__all__ = [
    "Attribute", "BinOp", "Compare", "Condition", "Definition", "Expr", "Has", "Logic",
    "Measure", "Not", "Number", "Scale", "Vocabulary", "dimension_of", "facility_types_of",
    "known_measures", "measures_of", "parse_definition", "parse_expression", "render",
    "tokenize",
]
