/**
 * @module
 * Errors mapped to HTTP in one place: a {@linkcode BadRequest} is the client's fault (400 with
 * its message, which names the parameter); anything else is logged with the route and answered
 * with a 500 that reveals nothing internal.
 */
import type { Context } from "hono";
import { getLogger } from "../lib/log.ts";

const log = getLogger(["spot", "http"]);

/** Bad client input; the message names the parameter. */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadRequest";
  }
}

/** Hono `onError` handler. */
export function onError(err: Error, c: Context): Response {
  if (err instanceof BadRequest) return c.json({ error: err.message }, 400);
  if ("getResponse" in err && typeof err.getResponse === "function") return err.getResponse();
  log.error("{method} {path} failed: {error}", {
    method: c.req.method,
    path: c.req.path,
    error: err.message,
  });
  return c.json({ error: "Internal error; see the service log" }, 500);
}
