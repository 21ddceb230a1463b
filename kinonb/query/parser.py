"""KQL grammar: tokens -> a type-checked tree of conditions joined by NOT, AND, OR.

    query     := or_expr END
    or_expr   := and_expr ( OR and_expr )*
    and_expr  := unary ( AND unary )*
    unary     := NOT unary | '(' or_expr ')' | condition
    condition := field op value | field IN '(' value ( ',' value )* ')'

Type checking happens here, against the field's kind, so a bad query fails before it touches any data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..errors import QueryError
from . import lexer
from .lexer import Token

# Field kinds.
NUMBER, TEXT, BOOL, CAMERAS, ATTR, ANNOTATION = "number", "string", "bool", "cameras", "attr", "annotation"

FIELDS = {
    # kinodb's fields, in kinodb's order
    "embodiment": TEXT,
    "task": TEXT,
    "success": BOOL,
    "num_frames": NUMBER,
    "action_dim": NUMBER,
    "fps": NUMBER,
    "total_reward": NUMBER,
    # kinonb's additions
    "state_dim": NUMBER,
    "episode_id": NUMBER,
    "cameras": CAMERAS,
    # language annotations (attrs "instructions" and the texts of attrs "segments")
    "instruction": ANNOTATION,
    "segment": ANNOTATION,
}
ATTRS_PREFIX = "attrs."
KNOWN_FIELDS = ", ".join([*FIELDS, ATTRS_PREFIX + "<key>"])

ORDERING = (">", "<", ">=", "<=")
OPS_BY_KIND = {
    NUMBER: ("=", "!=", *ORDERING, "in"),
    TEXT: ("=", "!=", "contains", "startswith", "in"),
    BOOL: ("=", "!=", *ORDERING, "in"),
    CAMERAS: ("contains", "startswith"),
    ATTR: ("=", "!=", *ORDERING, "contains", "startswith", "in"),
    ANNOTATION: ("=", "!=", "contains", "startswith", "in"),
}
WORD_OPS = ("contains", "startswith", "in")
MAX_DEPTH = 100  # nesting of NOT and parentheses; keeps recursion far from Python's limit

Literal = Union[str, int, float, bool, None]  # None is KQL's null


@dataclass(frozen=True)
class Condition:
    field: str  # "task", "num_frames", ... or "attrs.<key>"
    kind: str
    op: str  # "=", "!=", ">", "<", ">=", "<=", "contains", "startswith" or "in"
    values: tuple  # one literal, or the members of an IN list


@dataclass(frozen=True)
class Not:
    node: "Node"


@dataclass(frozen=True)
class And:
    nodes: tuple


@dataclass(frozen=True)
class Or:
    nodes: tuple


Node = Union[Condition, Not, And, Or]


def parse(query: str) -> Node:
    """The type-checked tree of `query`; raises QueryError."""
    tokens = lexer.tokenize(query)
    if tokens[0].kind == lexer.END:
        raise QueryError("empty query", query, 0)
    return _Parser(query, tokens).parse()


def _keyword(token: Token) -> str | None:
    return token.text.lower() if token.kind == lexer.WORD else None


class _Parser:
    def __init__(self, query: str, tokens: list[Token]):
        self.query = query
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def error(self, message: str, token: Token) -> QueryError:
        return QueryError(message, self.query, token.pos)

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek
        if token.kind == lexer.RPAREN:
            raise self.error("unbalanced ')': no '(' to close", token)
        if token.kind != lexer.END:
            raise self.error(f"expected AND, OR or end of query, got {token.describe()}", token)
        return node

    def or_expr(self) -> Node:
        nodes = [self.and_expr()]
        while _keyword(self.peek) == "or":
            self.take()
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def and_expr(self) -> Node:
        nodes = [self.unary()]
        while _keyword(self.peek) == "and":
            self.take()
            nodes.append(self.unary())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def unary(self) -> Node:
        token = self.peek
        if _keyword(token) == "not" or token.kind == lexer.LPAREN:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"query nested deeper than {MAX_DEPTH} levels", token)
            self.take()
            if token.kind == lexer.LPAREN:
                node = self.or_expr()
                if self.peek.kind != lexer.RPAREN:
                    if self.peek.kind == lexer.END:
                        raise self.error("unbalanced '(': no ')' closes it", token)
                    raise self.error(f"expected ')', got {self.peek.describe()}", self.peek)
                self.take()
            else:
                node = Not(self.unary())
            self.depth -= 1
            return node
        return self.condition()

    def condition(self) -> Condition:
        field_token = self.take()
        if field_token.kind != lexer.WORD or _keyword(field_token) in ("and", "or"):
            raise self.error(f"expected a field name, got {field_token.describe()}", field_token)
        field, kind = self.field(field_token)

        op_token = self.take()
        if op_token.kind == lexer.OP:
            op = op_token.text
        elif _keyword(op_token) in WORD_OPS:
            op = _keyword(op_token)
        else:
            raise self.error(f"expected an operator after {field}, got {op_token.describe()}", op_token)
        if op not in OPS_BY_KIND[kind]:
            allowed = " ".join(o.upper() for o in OPS_BY_KIND[kind])
            raise self.error(f"{op.upper()} does not apply to {field} ({kind}); use {allowed}", op_token)

        if op != "in":
            return Condition(field, kind, op, (self.value(field, kind, op),))
        open_token = self.take()
        if open_token.kind != lexer.LPAREN:
            raise self.error(f"expected '(' after IN, got {open_token.describe()}", open_token)
        values = [self.value(field, kind, "=")]
        while self.peek.kind == lexer.COMMA:
            self.take()
            values.append(self.value(field, kind, "="))
        if self.peek.kind != lexer.RPAREN:
            if self.peek.kind == lexer.END:
                raise self.error("unbalanced '(': the IN list has no ')'", open_token)
            raise self.error(f"expected ',' or ')' in the IN list, got {self.peek.describe()}", self.peek)
        self.take()
        return Condition(field, kind, op, tuple(values))

    def field(self, token: Token) -> tuple[str, str]:
        name = token.text
        if name.lower().startswith(ATTRS_PREFIX) and len(name) > len(ATTRS_PREFIX):
            return ATTRS_PREFIX + name[len(ATTRS_PREFIX) :], ATTR  # keys are case-sensitive
        kind = FIELDS.get(name.lower())
        if kind is None:
            raise self.error(f"unknown field {name!r}; known fields: {KNOWN_FIELDS}", token)
        return name.lower(), kind

    def value(self, field: str, kind: str, op: str) -> Literal:
        token = self.take()
        if token.kind == lexer.NUMBER:
            value = token.value
        elif token.kind == lexer.STRING:
            value = token.text
        elif token.kind == lexer.WORD:  # true/false/null/none, else a bare word is a string (as in kinodb)
            value = {"true": True, "false": False, "null": None, "none": None}.get(token.text.lower(), token.text)
        else:
            raise self.error(f"expected a value, got {token.describe()}", token)
        return self.check_type(field, kind, op, value, token)

    def check_type(self, field: str, kind: str, op: str, value: Literal, token: Token) -> Literal:
        """The literal as the condition compares it, or QueryError when it cannot apply to the field."""
        if value is None:
            if op in ("=", "!="):
                return None
            raise self.error(f"null can only be compared with = or != (or listed in IN), not {op.upper()}", token)
        if op in ("contains", "startswith"):
            if isinstance(value, str):
                return value
            raise self.error(f"{op.upper()} takes a string, got {_type_name(value)}", token)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == NUMBER:
            if is_number:
                return value
            if isinstance(value, str) and token.kind == lexer.STRING:
                number = lexer.parse_number(value)
                if number is not None:  # `num_frames = '37'`: a quoted number is that number
                    return number
            raise self.error(f"{field} is a number, got {_type_name(value)}", token)
        if kind == TEXT:
            if isinstance(value, str):
                return value
            raise self.error(f"{field} is a string, got {_type_name(value)}; quote it to compare as text", token)
        if kind == BOOL:
            if isinstance(value, bool):
                return value
            raise self.error(f"{field} is true, false or null, got {_type_name(value)}", token)
        if kind == ANNOTATION:
            if isinstance(value, str) or value is None:
                return value
            raise self.error(f"{field} is text (or null), got {_type_name(value)}", token)
        # ATTR: any JSON scalar compares with = != IN; ordering needs a number
        if op in ORDERING and not is_number:
            raise self.error(f"{op} on {field} compares numbers, got {_type_name(value)}", token)
        return value


def _type_name(value: Literal) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean " + str(value).lower()
    if isinstance(value, str):
        return f"string {value!r}"
    return f"number {value}"

