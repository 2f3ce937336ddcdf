#!/usr/bin/env python3
"""Checks recorded responses of the agent's API against docs/openapi.json.

usage: openapi-check.py OPENAPI.json SAMPLES.json

SAMPLES is a JSON list of {"method", "template", "status", "content_type", "body"} (body: the text).
Each response must be documented for its path template, method and status; its content type must be
one the document gives for it; a JSON body must validate against the schema (JSON Schema 2020-12,
with formats checked). Prints one line per problem and a summary; exit 1 on any problem.
Needs jsonschema >= 4.18 (the schemathesis virtualenv has it).
"""
import json
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def pointer(*parts):
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    document = json.load(open(sys.argv[1]))
    samples = json.load(open(sys.argv[2]))
    registry = Registry().with_resource(
        "urn:switchyard:openapi", Resource.from_contents(document, default_specification=DRAFT202012))
    problems = []
    checked = 0
    for sample in samples:
        method, template, status = sample["method"].lower(), sample["template"], str(sample["status"])
        where = f'{sample["method"]} {sample.get("path", template)} -> {status}'
        operation = document["paths"].get(template, {}).get(method)
        if operation is None:
            problems.append(f"{where}: {method.upper()} {template} is not in the document")
            continue
        response = operation.get("responses", {}).get(status)
        if response is None:
            problems.append(f"{where}: status {status} is not documented")
            continue
        content = response.get("content", {})
        body = sample.get("body", "")
        if method == "head" or not content:
            checked += 1
            continue
        base = (sample.get("content_type") or "").split(";")[0].strip()
        media = next((key for key in content if key.split(";")[0].strip() == base), None)
        if media is None:
            problems.append(f"{where}: content type {base!r} is not one of {sorted(content)}")
            continue
        schema = content[media].get("schema")
        if base == "application/json" and schema is not None:
            try:
                value = json.loads(body)
            except ValueError as error:
                problems.append(f"{where}: not JSON ({error})")
                continue
            ref = "urn:switchyard:openapi#/" + pointer(
                "paths", template, method, "responses", status, "content", media, "schema")
            validator = Draft202012Validator(
                {"$ref": ref}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
            for error in validator.iter_errors(value):
                path = "/".join(str(p) for p in error.absolute_path)
                problems.append(f"{where}: at /{path}: {error.message[:300]}")
        checked += 1
    for problem in problems:
        print(problem)
    print(f"{checked} responses checked against the document, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
