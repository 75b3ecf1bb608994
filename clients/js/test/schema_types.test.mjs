// The payload types in src/types.ts follow schemas/json: every property, its optionality, and
// an enum's values. A schema change that the types miss fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const source = readFileSync(here("../src/types.ts"), "utf8");

// The fields of one `export interface Name { ... }`: name -> {optional, type text}.
function fieldsOf(name) {
  const body = source.match(new RegExp(`export interface ${name} \\{([^}]*)\\}`));
  assert.ok(body, `interface ${name} not found in src/types.ts`);
  const fields = new Map();
  for (const line of body[1].split("\n")) {
    const m = line.trim().match(/^([a-z_]+)(\?)?: (.+);$/);
    if (m) fields.set(m[1], { optional: m[2] === "?", type: m[3] });
  }
  return fields;
}

const interfaces = {
  agent_started: "AgentStartedPayload",
  agent_thinking: "AgentThinkingPayload",
  tool_executing: "ToolExecutingPayload",
  tool_completed: "ToolCompletedPayload",
  agent_completed: "AgentCompletedPayload",
};

for (const [type, name] of Object.entries(interfaces)) {
  test(`${name} matches schemas/json/${type}.schema.json`, () => {
    const schema = JSON.parse(readFileSync(here(`../../../schemas/json/${type}.schema.json`), "utf8"));
    const fields = fieldsOf(name);
    const required = new Set(schema.required ?? []);
    assert.deepEqual([...fields.keys()].sort(), Object.keys(schema.properties).sort());
    for (const [field, spec] of Object.entries(schema.properties)) {
      const declared = fields.get(field);
      assert.equal(declared.optional, !required.has(field), `${name}.${field}: optional iff not required`);
      if (spec.enum) {
        const values = declared.type.split("|").map((v) => JSON.parse(v.trim()));
        assert.deepEqual(values.sort(), [...spec.enum].sort(), `${name}.${field}: the enum`);
      } else if (spec.type === "string") {
        assert.equal(declared.type, "string", `${name}.${field}`);
      } else if (spec.type === "number" || spec.type === "integer") {
        assert.equal(declared.type, "number", `${name}.${field}`);
      } else if (spec.type === undefined) {
        assert.equal(declared.type, "unknown", `${name}.${field}: any JSON`);
      }
    }
    // Fields the schema does not list are allowed and passed on.
    assert.match(source.match(new RegExp(`export interface ${name} \\{([^}]*)\\}`))[1], /\[field: string\]: unknown;/);
  });
}
