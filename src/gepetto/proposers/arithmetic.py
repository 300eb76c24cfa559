"""Checks the arithmetic a worked example writes out ("1 + 4 + 1 = 6").

Why: a small reflection model asked to solve a training input with the gold answer in
view often writes terms that do not add up and then states the gold total anyway (a run
on object counting kept "1 + 1 + 1 + 1 + 1 + 1 + 1 = 8" as its worked example; the task
model then copied the habit). The final answer is right, so the answer check passes it;
only the equation itself shows the error. Code can check it exactly, so it does.

The check is deliberately conservative, because a false alarm costs a re-ask and a missed
error costs nothing worse than before: only an equation whose left side reads as plain
arithmetic once unit words after numbers are dropped ("4 trombones + 1 drum",
"1 (carrot) + 1 (yam)") and whose right side is a number that ends the equation is judged.
Steps with clock times, dates, ranges, conversions ("1 dozen", "9 am + 4 hours") or
algebra ("2x + 3 = 7") are left alone rather than guessed at, and a result may be
rounded or cut to its written decimals.
"""

from __future__ import annotations

import ast
import math
import operator
import re

__all__ = ["NUMBER_TEXT", "wrong_equation"]

_WORDS_IN_PARENS = re.compile(r"\([^()\d]*\)")  # "(potatoes)": a label, not a grouping
NUMBER_TEXT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"  # a written number, unsigned ("1,200", "3.5")
_NUMBER = re.compile(NUMBER_TEXT)
_TOKEN = re.compile(rf"{NUMBER_TEXT}|[+\-*/×÷()]|[A-Za-z][A-Za-z'’]*|\S")
_OPERATORS = {"+": "+", "-": "-", "*": "*", "/": "/", "×": "*", "÷": "/"}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_SEGMENT_END = re.compile(r"[:;=?!]|\.(?=\s|$)")  # where a sentence or a clause ends
# what makes a step's numbers something other than plain arithmetic: clock times, dates,
# ranges ("3-5"), a variable glued to a number ("2x"), words that scale a number or a clock
_NOT_PLAIN = re.compile(
    r"\d\s*:\s*\d|\d/\d+/\d|\d-\d|\d[A-Za-z]\b|\b(?:am|pm|o'clock|dozens?|hundreds?|thousands?|millions?|billions?|half|"
    r"quarters?|pairs?|couples?|percent)\b",
    re.IGNORECASE,
)
_MAX_SEGMENT = 200  # longer arithmetic is not what a short step writes; not judged


def wrong_equation(step: str) -> str | None:
    """The first equation in ``step`` whose sides differ (as read, e.g. "1 + 1 = 3"), or
    None when every equation it can read is right or none can be read."""
    text = step.replace("−", "-")
    if _NOT_PLAIN.search(text):
        return None
    for match in re.finditer("=", text):
        right = _result(text[match.end() :])
        if right is None:
            continue
        left = _left_side(text[: match.start()])
        if left is None:
            continue
        value = _evaluate(left)
        if value is None or not math.isfinite(value):
            continue
        if not _matches(value, right[1]):
            return f"{left} = {right[1]}"
    return None


def _matches(value: float, written: str) -> bool:
    """Whether a written result is the value, rounded or cut to the decimals written
    ("10 / 3 = 3.33", "= 3.3", "7 / 2 = 3" and "= 4" pass; "10 / 3 = 3.4" does not)."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    result, scale = float(written), 10.0**decimals
    candidates = (round(value, decimals), math.trunc(value * scale) / scale)
    return any(abs(result - c) <= 1e-9 * max(1.0, abs(result)) for c in candidates)


def _left_side(before: str) -> str | None:
    """The arithmetic written just before an '=' (after the last clause or sentence end),
    as a Python expression, or None when it is not plain arithmetic with an operator."""
    start = 0
    for end in _SEGMENT_END.finditer(before):
        start = end.end()
    segment = _WORDS_IN_PARENS.sub(" ", before[start:])
    if len(segment) > _MAX_SEGMENT or "%" in segment:
        return None
    raw = _TOKEN.findall(segment)
    tokens: list[str] = []
    for index, token in enumerate(raw):
        following = raw[index + 1] if index + 1 < len(raw) else ""
        if token[0].isalpha():
            if token in ("x", "X") and tokens and _NUMBER.fullmatch(tokens[-1]) and (_NUMBER.fullmatch(following) or following == "("):
                tokens.append("*")  # "3 x 4"
            elif tokens and tokens[-1] in ("+", "-", "*", "/", "("):
                return None  # a word where an operand belongs: "3 - add 1", "2 * x"
            continue  # a unit after a number ("4 trombones") or words before the sum
        if token in ("$", "€", "£"):
            continue
        if _NUMBER.fullmatch(token):
            if tokens and (_NUMBER.fullmatch(tokens[-1]) or tokens[-1] == ")"):
                return None  # two numbers with no operator between: not an expression
            tokens.append(token.replace(",", ""))
        elif token in _OPERATORS:
            tokens.append(_OPERATORS[token])
        elif token in "()":
            tokens.append(token)
        else:
            return None
    if not any(t in ("+", "-", "*", "/") for t in tokens[1:]):
        return None  # a lone number ("trombones = 4") states, it does not compute
    return " ".join(tokens)


def _result(after: str) -> tuple[float, str] | None:
    """The number an equation's right side consists of (a currency sign and unit words
    allowed), or None when the right side goes on computing ("= 3 × 4 = 12": the next
    equation is judged instead) or is not a number."""
    match = re.match(rf"\s*[$€£]?\s*(-?(?:{NUMBER_TEXT}))(?![\d.,/]*\d)", after)
    if match is None or re.match(r"\s*[-+*/×÷xX]\s*[\d(]", after[match.end() :]):
        return None
    written = match.group(1).replace(",", "")
    return float(written), written


def _evaluate(expression: str) -> float | None:
    """The value of a plain arithmetic expression, or None for anything else; never
    raises (a reply can hold any text, and a check must not end the run)."""
    try:
        return _value(ast.parse(expression, mode="eval").body)
    except Exception:  # noqa: BLE001 - SyntaxError, RecursionError, OverflowError, ZeroDivisionError, ...
        return None


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_value(node.left), _value(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    raise ValueError("not plain arithmetic")
