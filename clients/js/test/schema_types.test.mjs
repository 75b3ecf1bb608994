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

// The AG-UI payload schemas in schemas/json (one per AG-UI 1.0 type: the payload is the AG-UI
// event itself) name the same fields as @ag-ui/core's own zod schemas, required the same way,
// so the bridge accepts what @ag-ui/client accepts and the mapping in src/ag_ui/ relies on.
import { readdirSync } from "node:fs";
import { EventType } from "@ag-ui/core";
import * as agUiSchemas from "@ag-ui/core/schemas";

test("schemas/json has a payload schema for every AG-UI 1.0 event type, and only those besides ours", () => {
  const files = readdirSync(here("../../../schemas/json")).map((f) => f.replace(/\.schema\.json$/, ""));
  const ours = new Set([...Object.keys(interfaces), "envelope"]);
  assert.deepEqual(files.filter((f) => !ours.has(f)).sort(), Object.values(EventType).sort());
});

for (const type of Object.values(EventType)) {
  test(`schemas/json/${type}.schema.json matches @ag-ui/core's schema`, () => {
    const schema = JSON.parse(readFileSync(here(`../../../schemas/json/${type}.schema.json`), "utf8"));
    const name = type.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase()) + "EventSchema";
    const zod = agUiSchemas[name];
    assert.ok(zod, `@ag-ui/core/schemas has no ${name}`);
    const fields = Object.entries(zod.shape);
    assert.deepEqual(Object.keys(schema.properties).sort(), fields.map(([k]) => k).sort(), "fields");
    const required = fields.filter(([, v]) => !v.safeParse(undefined).success).map(([k]) => k);
    assert.deepEqual([...(schema.required ?? [])].sort(), required.sort(), "required fields");
  });
}
