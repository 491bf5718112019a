"""Reading infra/cloudformation.yaml: a YAML loader for CloudFormation's short forms, and its conditions.

``load_template`` turns ``!Ref X`` into ``{"Ref": "X"}``, ``!GetAtt A.B`` into ``{"Fn::GetAtt": ["A", "B"]}``
and every other ``!Fn`` into ``{"Fn::Fn": ...}``, the long form CloudFormation itself uses.
``active_resources`` says which resources a parameter set creates (their Conditions evaluated), so deploy
can tell a resource CloudFormation skipped on purpose from one it failed to create.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "infra" / "cloudformation.yaml"

_FUNCTIONS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "Contains",
    "EachMemberEquals",
    "ValueOf",
    "Length",
    "ToJsonString",
)


class _Loader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's tags."""


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


def _function(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _node_value(loader, node)}

    return construct


def _ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _node_value(loader, node)}


def _condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _node_value(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


for _name in _FUNCTIONS:
    _Loader.add_constructor(f"!{_name}", _function(_name))
_Loader.add_constructor("!Ref", _ref)
_Loader.add_constructor("!Condition", _condition)
_Loader.add_constructor("!GetAtt", _get_att)


def load_template(source: str | Path = TEMPLATE_PATH) -> dict[str, Any]:
    text = source.read_text() if isinstance(source, Path) else source
    loaded = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError("a CloudFormation template is a mapping")
    return loaded


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter's value: the given one, else the default; lists split as CloudFormation splits them."""
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        raw = given.get(name, spec.get("Default"))
        if raw is None:
            continue
        raw = str(raw)
        if spec.get("Type", "").startswith("CommaDelimitedList") or spec.get("Type", "").startswith("List<"):
            values[name] = [item.strip() for item in raw.split(",")] if raw else [""]
        else:
            values[name] = raw
    return values


def evaluate_conditions(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, bool]:
    """The template's Conditions for these parameter values (Equals, Not, And, Or, Condition, Ref, Join)."""
    conditions = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def value(expression: Any) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, argument),) = expression.items()
            if key == "Ref":
                if argument not in parameters:
                    raise ValueError(f"condition refers to {argument}, which has no value")
                return parameters[argument]
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in value(items))
            if key == "Condition":
                return condition(argument)
            return truth(expression)
        if isinstance(expression, list):
            return [value(item) for item in expression]
        return expression

    def truth(expression: Any) -> bool:
        ((key, argument),) = expression.items()
        if key == "Fn::Equals":
            left, right = (value(item) for item in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not value(argument[0])
        if key == "Fn::And":
            return all(value(item) for item in argument)
        if key == "Fn::Or":
            return any(value(item) for item in argument)
        if key == "Condition":
            return condition(argument)
        raise ValueError(f"unsupported condition function {key}")

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = bool(truth(conditions[name]))
        return done[name]

    for name in conditions:
        condition(name)
    return done


def active_resources(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Logical id -> type of every resource the stack creates with these parameters."""
    conditions = evaluate_conditions(template, parameter_values(template, given))
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template.get("Resources", {}).items()
        if "Condition" not in resource or conditions[resource["Condition"]]
    }
