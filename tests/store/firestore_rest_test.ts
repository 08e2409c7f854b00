import assert from "node:assert/strict";
import fc from "fast-check";
import {
  commitBodyJson,
  decodeValue,
  encodeValue,
  encodeValueJson,
  fieldPath,
  fieldSegment,
  FirestoreRest,
  type RestWrite,
} from "../../lib/store/firestore_rest.ts";

Deno.test("encodeValue encodes as the official client: safe integers as integerValue", () => {
  assert.deepEqual(encodeValue(1773500700000), { integerValue: "1773500700000" });
  assert.deepEqual(encodeValue(0.1), { doubleValue: 0.1 });
  assert.deepEqual(encodeValue(-0), { doubleValue: -0 });
  assert.deepEqual(encodeValue(2 ** 53), { doubleValue: 2 ** 53 });
  assert.deepEqual(encodeValue(NaN), { doubleValue: "NaN" });
  assert.deepEqual(encodeValue("BTC"), { stringValue: "BTC" });
  assert.deepEqual(encodeValue(false), { booleanValue: false });
  assert.deepEqual(encodeValue(null), { nullValue: null });
  assert.deepEqual(encodeValue(new Date(Date.UTC(2026, 2, 14))), {
    timestampValue: "2026-03-14T00:00:00.000Z",
  });
  assert.deepEqual(encodeValue({ a: 1, skip: undefined, b: ["x"] }), {
    mapValue: {
      fields: { a: { integerValue: "1" }, b: { arrayValue: { values: [{ stringValue: "x" }] } } },
    },
  });
  assert.throws(() => encodeValue(() => 1), /Cannot store a function in Firestore/);
});

Deno.test("decodeValue inverts encodeValue (timestamps as Date)", () => {
  const value = {
    open: 1.5,
    volume: 12.34567891,
    first_timestamp: 1773500700000,
    status: "online",
    flags: [true, null],
    at: new Date(Date.UTC(2026, 2, 14, 15, 5)),
    nested: { deep: { x: -3 } },
  };
  assert.deepEqual(decodeValue(encodeValue(value)), value);
  assert.equal(decodeValue({ doubleValue: "Infinity" }), Infinity);
});

Deno.test("field paths backquote segments that are not plain identifiers", () => {
  assert.equal(fieldSegment("lastUpdate"), "lastUpdate");
  assert.equal(fieldSegment("BTC-USD"), "`BTC-USD`");
  assert.equal(fieldSegment("0-of-3"), "`0-of-3`");
  assert.equal(fieldSegment("a`b\\c"), "`a\\`b\\\\c`");
  assert.equal(fieldPath(["coinbase", "BTC-USD", "status"]), "coinbase.`BTC-USD`.status");
});

Deno.test("FirestoreRest: merge masks, transforms and errors as sent and read", async () => {
  const sent: { url: string; body: unknown }[] = [];
  const rest = new FirestoreRest({
    projectId: "demo-x",
    emulatorHost: "127.0.0.1:1",
    fetch: (input, init) => {
      sent.push({ url: String(input), body: JSON.parse(String(init?.body ?? "null")) });
      assert.equal(new Headers(init?.headers).get("authorization"), "Bearer owner");
      if (String(input).endsWith(":batchGet")) {
        return Promise.resolve(Response.json([
          { missing: "projects/demo-x/databases/(default)/documents/a/2", readTime: "t" },
          {
            found: {
              name: "projects/demo-x/databases/(default)/documents/a/1",
              fields: { v: { integerValue: "7" } },
            },
          },
        ]));
      }
      return Promise.resolve(
        Response.json({ error: { code: 400, status: "INVALID_ARGUMENT", message: "bad mask" } }, {
          status: 400,
        }),
      );
    },
  });
  assert.deepEqual(await rest.batchGet(["a/1", "a/2"]), [{ v: 7 }, undefined]);
  await assert.rejects(
    rest.commit([{
      path: "p/BTC-USD",
      data: { intervals: { ONE_MINUTE: { open: 1 } }, status: "online" },
      merge: true,
      serverTimestamps: [["intervals", "ONE_MINUTE", "lastUpdate"]],
    }]),
    (e: Error & { code?: number }) => {
      assert.equal(e.message, "INVALID_ARGUMENT: bad mask");
      assert.equal(e.code, 3);
      return true;
    },
  );
  const commit = sent.at(-1)!;
  assert.equal(
    commit.url,
    "http://127.0.0.1:1/v1/projects/demo-x/databases/(default)/documents:commit",
  );
  assert.deepEqual(commit.body, {
    writes: [{
      update: {
        name: "projects/demo-x/databases/(default)/documents/p/BTC-USD",
        fields: {
          intervals: {
            mapValue: {
              fields: { ONE_MINUTE: { mapValue: { fields: { open: { integerValue: "1" } } } } },
            },
          },
          status: { stringValue: "online" },
        },
      },
      updateMask: { fieldPaths: ["intervals.ONE_MINUTE.open", "status"] },
      updateTransforms: [{
        fieldPath: "intervals.ONE_MINUTE.lastUpdate",
        setToServerValue: "REQUEST_TIME",
      }],
    }],
  });
});

Deno.test("FirestoreRest retries a read a retry can help, not a bad request nor a commit", async () => {
  const calls: string[] = [];
  let unavailable = 2;
  const rest = new FirestoreRest({
    projectId: "demo-x",
    emulatorHost: "127.0.0.1:1",
    fetch: (input) => {
      const url = String(input);
      calls.push(url.slice(url.lastIndexOf(":")));
      const error = (status: number, code: string) =>
        Promise.resolve(Response.json({ error: { status: code, message: code } }, { status }));
      if (url.endsWith(":batchGet")) {
        return unavailable-- > 0 ? error(503, "UNAVAILABLE") : Promise.resolve(Response.json([]));
      }
      if (url.endsWith(":runQuery")) return error(400, "INVALID_ARGUMENT");
      return error(503, "UNAVAILABLE");
    },
  });
  assert.deepEqual(await rest.batchGet(["a/1"]), [undefined]);
  assert.deepEqual(calls, [":batchGet", ":batchGet", ":batchGet"]);
  calls.length = 0;
  await assert.rejects(rest.runQuery({ collection: "a" }), /INVALID_ARGUMENT/);
  assert.deepEqual(calls, [":runQuery"]);
  calls.length = 0;
  await assert.rejects(rest.commit([{ path: "a/1", data: { v: 1 } }]), /UNAVAILABLE/);
  assert.deepEqual(calls, [":commit"]);
});

/** A commit request as objects, serialised by JSON.stringify: what commitBodyJson must write. */
function referenceCommit(root: string, writes: RestWrite[]): string {
  const leaves = (data: Record<string, unknown>, prefix: string[]): string[][] =>
    Object.entries(data).flatMap(([k, v]) => {
      if (v === undefined) return [];
      const plain = typeof v === "object" && v !== null && !Array.isArray(v) &&
        !(v instanceof Date);
      return plain && Object.keys(v).length > 0
        ? leaves(v as Record<string, unknown>, [...prefix, k])
        : [[...prefix, k]];
    });
  return JSON.stringify({
    writes: writes.map((w) => {
      const fields = (encodeValue(w.data) as { mapValue: { fields: unknown } }).mapValue.fields;
      const write: Record<string, unknown> = { update: { name: `${root}/${w.path}`, fields } };
      if (w.merge === true) write.updateMask = { fieldPaths: leaves(w.data, []).map(fieldPath) };
      else if (Array.isArray(w.merge)) write.updateMask = { fieldPaths: w.merge.map(fieldPath) };
      if (w.serverTimestamps?.length) {
        write.updateTransforms = w.serverTimestamps.map((f) => ({
          fieldPath: fieldPath(f),
          setToServerValue: "REQUEST_TIME",
        }));
      }
      return write;
    }),
  });
}

const storable: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.double(),
    fc.integer(),
    fc.constantFrom(0, -0, 2 ** 53, -(2 ** 53), 1e21, 5e-324, NaN, Infinity, -Infinity),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.bigInt(),
    fc.date({ noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 3 }),
    tie("map"),
  ),
  map: fc.dictionary(
    fc.oneof(fc.string(), fc.constantFrom("0", "12", "a-b", "`x", "__proto__x")),
    fc.option(tie("value"), { nil: undefined }),
    { maxKeys: 4 },
  ),
})).value;

Deno.test("encodeValueJson() writes JSON.stringify(encodeValue(v)) for any storable value", () => {
  fc.assert(
    fc.property(storable, (v) => {
      assert.equal(encodeValueJson(v), JSON.stringify(encodeValue(v)));
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => encodeValueJson({ f: () => 1 }), /Cannot store a function in Firestore/);
});

Deno.test("commitBodyJson() writes the commit request the object form serialises to", () => {
  const write = fc.record({
    path: fc.constantFrom("a/b", "exchanges/coinbase/products/BTC-USD/intervals/ONE_MINUTE"),
    data: fc.dictionary(fc.string({ minLength: 1 }), storable, { maxKeys: 5 }) as fc.Arbitrary<
      Record<string, unknown>
    >,
    merge: fc.option(
      fc.oneof(fc.boolean(), fc.array(fc.array(fc.string({ minLength: 1 }), { minLength: 1 }))),
      { nil: undefined },
    ),
    serverTimestamps: fc.option(fc.array(fc.array(fc.string({ minLength: 1 }), { minLength: 1 })), {
      nil: undefined,
    }),
  });
  fc.assert(
    fc.property(fc.array(write, { maxLength: 4 }), (writes) => {
      const root = "projects/demo-x/databases/(default)/documents";
      assert.equal(
        commitBodyJson(root, writes as RestWrite[]),
        referenceCommit(root, writes as RestWrite[]),
      );
    }),
    { numRuns: 500 },
  );
});
