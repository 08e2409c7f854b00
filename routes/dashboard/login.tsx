/**
 * @module
 * The login page (a plain HTML form, no script needed) and the page shown when access is
 * disabled (Cloud Run without `DASHBOARD_PASSWORD`).
 */
import { Page, renderPage } from "./layout.tsx";

/** Props of {@linkcode loginPage}. */
export interface LoginPageProps {
  /** Where to go after logging in (an own-origin path). */
  next: string;
  /** Why the last attempt failed. */
  error?: string;
}

/** The login form as an HTML document. */
export function loginPage(props: LoginPageProps): string {
  return renderPage(
    <Page title="Log in" islands={false}>
      <section class="login">
        <h1>Log in</h1>
        <p>This dashboard is protected by the password set in DASHBOARD_PASSWORD.</p>
        {props.error && <p class="error" role="alert">{props.error}</p>}
        <form method="post" action="/login">
          <input type="hidden" name="next" value={props.next} />
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            autofocus
          />
          <button type="submit">Log in</button>
        </form>
      </section>
    </Page>,
  );
}

/** The page every route but `/health` shows while access is disabled. */
export function accessDisabledPage(message: string): string {
  return renderPage(
    <Page title="Access disabled" islands={false}>
      <section class="login">
        <h1>Access disabled</h1>
        <p role="alert">{message}</p>
      </section>
    </Page>,
  );
}
