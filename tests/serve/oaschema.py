"""oaschema.py: the subset of JSON Schema (2020-12, as OpenAPI 3.1 uses
it) that docs/api/openapi.json is written in, to check the daemon's
replies against the document: type (one or a list), enum, required,
properties, additionalProperties: false, items, $ref (local), oneOf,
minimum, maximum, minLength, pattern. A keyword outside the subset is an
error, so the document cannot silently say more than is checked."""
import re

KNOWN = {"type", "enum", "required", "properties", "additionalProperties",
         "items", "$ref", "oneOf", "minimum", "maximum", "minLength",
         "pattern", "description", "default", "contentMediaType"}

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Doc:
    def __init__(self, doc):
        self.doc = doc

    def resolve(self, ref):
        assert ref.startswith("#/"), ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def errors(self, schema, value, where="$"):
        """Every way value breaks schema, as 'path: message' strings."""
        out = []
        for k in schema:
            if k not in KNOWN:
                out.append(f"{where}: schema keyword {k!r} is not checked")
        if "$ref" in schema:
            return out + self.errors(self.resolve(schema["$ref"]), value, where)
        t = schema.get("type")
        if t is not None:
            ts = t if isinstance(t, list) else [t]
            if not any(TYPES[x](value) for x in ts):
                return out + [f"{where}: {value!r:.80} is not {t}"]
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{where}: {value!r} not in {schema['enum']}")
        if "oneOf" in schema:
            ok = [s for s in schema["oneOf"] if not self.errors(s, value, where)]
            if len(ok) != 1:
                out.append(f"{where}: matches {len(ok)} of oneOf, not 1")
        if isinstance(value, dict):
            for r in schema.get("required", []):
                if r not in value:
                    out.append(f"{where}: missing {r!r}")
            props = schema.get("properties", {})
            for k, v in value.items():
                if k in props:
                    out += self.errors(props[k], v, f"{where}.{k}")
                elif schema.get("additionalProperties") is False:
                    out.append(f"{where}: {k!r} is not in the document")
        if isinstance(value, list) and "items" in schema:
            for i, v in enumerate(value):
                out += self.errors(schema["items"], v, f"{where}[{i}]")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                out.append(f"{where}: {value} < {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                out.append(f"{where}: {value} > {schema['maximum']}")
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                out.append(f"{where}: shorter than {schema['minLength']}")
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append(f"{where}: {value!r} does not match {schema['pattern']}")
        return out

    def operation(self, method, path):
        """The (template, operation) the document has for a concrete
        path, or (None, None)."""
        for tpl, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tpl) + "$"
            if re.match(rx, path) and method.lower() in item:
                return tpl, item[method.lower()]
        return None, None

    def response_schema(self, op, status, ctype):
        resp = op["responses"].get(str(status))
        if resp is None:
            return None, f"status {status} is not documented"
        if "$ref" in resp:
            resp = self.resolve(resp["$ref"])
        content = resp.get("content", {})
        if ctype not in content:
            return None, f"content type {ctype} is not documented for {status}"
        return content[ctype].get("schema"), None
