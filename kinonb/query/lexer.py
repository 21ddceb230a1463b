"""KQL tokens: split a query into words, strings, numbers, operators and punctuation.

Positions are 0-based indices into the query string, so every later error can point at the character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from ..errors import QueryError

# Token kinds.
WORD = "word"  # field names, keywords, bare-word values (`franka`), dotted names (`attrs.operator`)
STRING = "string"  # 'quoted' or "quoted"; no escape sequences (as in kinodb)
NUMBER = "number"
OP = "op"  # = != > < >= <=
LPAREN, RPAREN, COMMA, END = "(", ")", ",", "end"

_NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][+-]?\d+)?\Z", re.ASCII)
_EXPONENT = re.compile(r"[eE][+-]?\d+", re.ASCII)
_DIGITS = "0123456789"
_OPERATORS = ("!=", ">=", "<=", "=", ">", "<")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # the source text; for STRING the contents without quotes
    pos: int
    value: Union[int, float, str, None] = None  # the parsed NUMBER

    def describe(self) -> str:
        if self.kind == END:
            return "end of query"
        if self.kind == STRING:
            return f"string {self.text!r}"
        return repr(self.text)


def _is_word_start(c: str) -> bool:
    return c.isalpha() or c == "_"


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in "_."


def parse_number(text: str) -> int | float | None:
    """The value of a KQL number literal, or None when `text` is not one."""
    if not _NUMBER.match(text):
        return None
    if text.lstrip("-").isdigit() and len(text) <= 40:  # longer ints: float (int() refuses > 4300 digits)
        return int(text)
    return float(text)


def tokenize(query: str) -> list[Token]:
    """The tokens of `query`, always ending with an END token."""
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "'\"":
            end = query.find(c, i + 1)
            if end < 0:
                raise QueryError("unterminated string", query, i)
            tokens.append(Token(STRING, query[i + 1 : end], i))
            i = end + 1
        elif c in _DIGITS or (c == "-" and i + 1 < n and query[i + 1] in _DIGITS):
            j = i + 1
            while j < n and query[j] in _DIGITS + ".":
                j += 1
            exp = _EXPONENT.match(query, j)
            if exp:
                j = exp.end()
            text = query[i:j]
            value = parse_number(text)
            if value is None:
                raise QueryError(f"invalid number {text!r}", query, i)
            tokens.append(Token(NUMBER, text, i, value))
            i = j
        elif _is_word_start(c):
            j = i + 1
            while j < n and _is_word_char(query[j]):
                j += 1
            tokens.append(Token(WORD, query[i:j], i))
            i = j
        elif c in "(),":
            tokens.append(Token(c, c, i))
            i += 1
        else:
            op = next((o for o in _OPERATORS if query.startswith(o, i)), None)
            if op is None:
                raise QueryError(f"unexpected character {c!r}", query, i)
            tokens.append(Token(OP, op, i))
            i += len(op)
    tokens.append(Token(END, "", n))
    return tokens
