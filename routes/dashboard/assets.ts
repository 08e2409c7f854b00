/**
 * @module
 * `/static/*`: the dashboard's CSS and the island bundle, read from the repository's `static/`
 * directory (resolved from this module, not the working directory). Only known file types,
 * no path escapes; the bundle is revalidated (it changes with every build), the CSS cached
 * briefly.
 */
import type { Context } from "hono";

/** The directory served under `/static/`. */
export const STATIC_DIR = new URL("../../static/", import.meta.url);

const TYPES: Record<string, string> = {
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  map: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
};

/** Handler for `GET /static/*`. */
export async function serveStatic(c: Context): Promise<Response> {
  const rel = decodeURIComponent(c.req.path.slice("/static/".length));
  const ext = rel.split(".").at(-1) ?? "";
  const type = TYPES[ext];
  if (!type || rel.split("/").some((part) => part === "" || part.startsWith("."))) {
    return c.json({ error: `No static file ${c.req.path}` }, 404);
  }
  let file: Uint8Array;
  try {
    file = await Deno.readFile(new URL(rel, STATIC_DIR));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const hint = rel.startsWith("build/") ? " (run `deno task build`)" : "";
    return c.json({ error: `No static file ${c.req.path}${hint}` }, 404);
  }
  return c.body(file as Uint8Array<ArrayBuffer>, 200, {
    "content-type": type,
    "cache-control": rel.startsWith("build/") ? "no-cache" : "public, max-age=300",
  });
}

/** Whether the island bundle has been built. */
export async function islandsBuilt(): Promise<boolean> {
  try {
    await Deno.stat(new URL("build/islands.js", STATIC_DIR));
    return true;
  } catch {
    return false;
  }
}
