"""Validate requests and responses against the server's own /openapi.json (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC = "urn:kiro-sync:openapi"
ACTION_OPERATION = "/paths/~1functions~1v1~1integration-service/post"


class OpenApi:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC, resource)

    def _validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{DOC}#{pointer}"}, registry=self.registry)

    def request_errors(self, body: Any) -> list[str]:
        pointer = f"{ACTION_OPERATION}/requestBody/content/application~1json/schema"
        return [error.message for error in self._validator(pointer).iter_errors(body)]

    def response_errors(self, status: int, body: Any) -> list[str]:
        pointer = f"{ACTION_OPERATION}/responses/{status}/content/application~1json/schema"
        return [error.message for error in self._validator(pointer).iter_errors(body)]
