import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, RecentIds, closeAction } from "../dist/index.js";

test("backoff: full jitter under min(max, base * 2^attempt)", () => {
  const opts = { baseMs: 100, maxMs: 5000 };
  for (let attempt = 0; attempt < 12; attempt++) {
    const cap = Math.min(5000, 100 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, opts, () => 0), 0);
    const top = backoffDelay(attempt, opts, () => 0.999999);
    assert.ok(top < cap && top >= cap - 1, `attempt ${attempt}: ${top} vs cap ${cap}`);
  }
  assert.equal(backoffDelay(1000, opts, () => 0.5), 2500); // huge attempts stay at the cap
});

test("backoff: defaults 500 ms base, 10 s cap, spread over the range", () => {
  assert.ok(backoffDelay(0, {}, () => 0.999999) < 500);
  assert.equal(backoffDelay(20, {}, () => 0.999999), 9999);
  const samples = Array.from({ length: 2000 }, () => backoffDelay(3, { baseMs: 100, maxMs: 10000 }));
  assert.ok(Math.min(...samples) < 100 && Math.max(...samples) > 700 && Math.max(...samples) < 800);
});

test("recent ids: duplicates refused, oldest forgotten past the capacity", () => {
  const ids = new RecentIds(3);
  assert.equal(ids.add("a"), true);
  assert.equal(ids.add("a"), false);
  ids.add("b"); ids.add("c"); ids.add("d");
  assert.equal(ids.size, 3);
  assert.equal(ids.has("a"), false);
  assert.equal(ids.add("d"), false);
});

test("close policy per code", () => {
  for (const code of [4001, 4400]) assert.equal(closeAction(code), "stop", String(code));
  for (const code of [4004, 4401]) assert.equal(closeAction(code), "refresh_token", String(code));
  for (const code of [1000, 1001, 1006, 1008, 1011, 1013, 4002, 4003, 4408, 4503, 4999]) {
    assert.equal(closeAction(code), "retry", String(code));
  }
});
