/**
 * @module
 * The HTML shell of every dashboard page, rendered on the server with `preact-render-to-string`:
 * head, header with navigation (and a logout button when a password is set), and the island
 * bundle loaded as an external module. Islands are server-rendered in place by
 * {@linkcode Island}, with their props in a JSON data block (the CSP forbids inline scripts).
 */
import type { ComponentChildren, VNode } from "preact";
import { renderToString } from "preact-render-to-string";

/** URL of the island bundle built by `deno task build`. */
export const ISLANDS_SCRIPT = "/static/build/islands.js";

/** Props of {@linkcode Page}. */
export interface PageProps {
  title: string;
  children: ComponentChildren;
  /** Show the logout button (a password is configured). */
  logout?: boolean;
  /** Load the island bundle. @default true */
  islands?: boolean;
  /** A notice shown above the content (e.g. the island bundle is missing). */
  notice?: string;
}

/** A complete dashboard page. */
export function Page(props: PageProps): VNode {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{`${props.title} · spot-server`}</title>
        <link rel="stylesheet" href="/static/dashboard.css" />
        <link rel="icon" href="data:," />
        {props.islands !== false && <script type="module" src={ISLANDS_SCRIPT} />}
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">spot-server</a>
          <nav aria-label="Main">
            <a href="/">Overview</a>
            <a href="/fleet">Fleet</a>
          </nav>
          {props.logout && (
            <form method="post" action="/logout" class="logout">
              <button type="submit">Log out</button>
            </form>
          )}
        </header>
        <main>
          {props.notice && <p class="notice" role="status">{props.notice}</p>}
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** Props of {@linkcode Island}. */
export interface IslandProps<P> {
  /** Registered name in `islands/main.ts`. */
  name: string;
  props: P;
  /** The island component rendered with `props` (its server-side HTML). */
  children: VNode;
}

/**
 * Server-renders an island and its props: `<div data-island=name>` holding the HTML, followed by
 * `<script type="application/json">` with the props, which the bundle hydrates in the browser.
 */
export function Island<P>({ name, props, children }: IslandProps<P>): VNode {
  // `<` escaped so that no string in the props can close the script element.
  const json = JSON.stringify(props).replace(/</g, "\\u003c");
  return (
    <>
      <div data-island={name}>{children}</div>
      <script
        type="application/json"
        data-island-props={name}
        dangerouslySetInnerHTML={{ __html: json }}
      />
    </>
  );
}

/** Renders a page to an HTML document string. */
export function renderPage(page: VNode): string {
  return "<!DOCTYPE html>" + renderToString(page);
}
