"""Checks the arithmetic a worked example writes out ("1 + 4 + 1 = 6").

Why: a small reflection model asked to solve a training input with the gold answer in
view often writes terms that do not add up and then states the gold total anyway (a run
on object counting kept "1 + 1 + 1 + 1 + 1 + 1 + 1 = 8" as its worked example; the task
model then copied the habit). The final answer is right, so the answer check passes it;
only the equation itself shows the error. Code can check it exactly, so it does.

The check is deliberately conservative: only an equation whose left side reads as plain
arithmetic once unit words are dropped ("4 trombones + 1 drum", "1 (carrot) + 1 (yam)")
and whose right side starts with a number is judged; anything else ("2 times 3 = 6",
"x = 4", a percentage) is left alone rather than guessed at.
"""

from __future__ import annotations

import ast
import operator
import re

__all__ = ["wrong_equation"]

_WORDS_IN_PARENS = re.compile(r"\([^()\d]*\)")  # "(potatoes)": a label, not a grouping
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[+\-*/×÷()]|[A-Za-z][A-Za-z'’-]*|\S")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_OPERATORS = {"+": "+", "-": "-", "*": "*", "/": "/", "×": "*", "÷": "/"}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_SEGMENT_END = re.compile(r"[:;=?!]|\.(?=\s|$)")  # where a sentence or a clause ends


def wrong_equation(step: str) -> str | None:
    """The first equation in ``step`` whose sides differ (as written, e.g. "1 + 1 = 3"),
    or None when every equation it can read is right or none can be read."""
    text = step.replace("−", "-")
    for match in re.finditer("=", text):
        left_text = _left_side(text[: match.start()])
        right = _first_number(text[match.end() :])
        if left_text is None or right is None:
            continue
        value = _evaluate(left_text)
        if value is None:
            continue
        decimals = len(right[1].split(".")[1]) if "." in right[1] else 0
        if abs(value - right[0]) > 0.5 * 10 ** (-decimals) + 1e-9:
            return f"{left_text} = {right[1]}"
    return None


def _left_side(before: str) -> str | None:
    """The arithmetic written just before an '=' (after the last clause or sentence end), as a
    Python expression, or None when it is not plain arithmetic with an operator."""
    start = 0
    for end in _SEGMENT_END.finditer(before):
        start = end.end()
    segment = _WORDS_IN_PARENS.sub(" ", before[start:])
    if "%" in segment:
        return None
    tokens: list[str] = []
    for token in _TOKEN.findall(segment):
        if token[0].isalpha():
            if token in ("x", "X") and tokens and _NUMBER.fullmatch(tokens[-1]):
                tokens.append("*")  # "3 x 4"
            continue  # a unit or a label word: "4 trombones"
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
    while tokens and tokens[-1] == "*" and len(tokens) >= 2:  # a dangling "x" of a word like "box"
        tokens.pop()
    if not any(t in ("+", "-", "*", "/") for t in tokens[1:]):
        return None  # a lone number ("trombones = 4") states, it does not compute
    return " ".join(tokens)


def _first_number(after: str) -> tuple[float, str] | None:
    """The number an equation's right side starts with (a currency sign allowed)."""
    match = re.match(r"\s*[$€£]?\s*(-?\d[\d,]*(?:\.\d+)?)", after)
    if match is None:
        return None
    written = match.group(1).replace(",", "")
    return float(written), written


def _evaluate(expression: str) -> float | None:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    try:
        return _value(tree.body)
    except (ValueError, ZeroDivisionError):
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
