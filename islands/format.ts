/**
 * @module
 * Number and time formatting shared by the server-rendered pages and the islands, so that the
 * HTML a page is served with and the HTML its island renders after hydration agree. Fixed
 * locale (`en-US`) and UTC, never the browser's.
 */

const priceFormats = new Map<number, Intl.NumberFormat>();

function fixed(digits: number): Intl.NumberFormat {
  let f = priceFormats.get(digits);
  if (!f) {
    f = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    priceFormats.set(digits, f);
  }
  return f;
}

/** A price with as many decimals as its size needs: `67,012.35`, `0.3712`, `0.00001234`. */
export function formatPrice(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "—";
  const abs = Math.abs(x);
  const digits = abs >= 1000 ? 2 : abs >= 1 ? 4 : abs >= 0.01 ? 6 : 8;
  return fixed(digits).format(x);
}

/** A volume with up to four decimals and thousands separators. */
export function formatVolume(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "—";
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: x >= 100 ? 2 : 4 }).format(x);
}

/** A plain number with `digits` decimals. */
export function formatNumber(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return fixed(digits).format(x);
}

/** Relative change from `open` to `close` in percent, or undefined when `open` is 0. */
export function changePercent(open: number, close: number): number | undefined {
  return open === 0 ? undefined : ((close - open) / open) * 100;
}

/** `+1.23 %` / `−0.40 %` / `0.00 %`. */
export function formatChange(pct: number | undefined): string {
  if (pct === undefined || !Number.isFinite(pct)) return "—";
  const sign = pct > 0 ? "+" : pct < 0 ? "−" : "";
  return `${sign}${fixed(2).format(Math.abs(pct))} %`;
}

/** CSS class of a change: `up`, `down` or `flat`. */
export function changeClass(pct: number | undefined): "up" | "down" | "flat" {
  return pct === undefined || pct === 0 ? "flat" : pct > 0 ? "up" : "down";
}

/** A duration: `0.4 s`, `12 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 10) return `${fixed(1).format(s)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Time of day in UTC, `14:03:22 UTC`. */
export function formatTime(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined) return "—";
  return `${new Date(epochMs).toISOString().slice(11, 19)} UTC`;
}

/** Date and time in UTC, `2026-03-14 14:03 UTC`. */
export function formatDateTime(epochMs: number | null | undefined): string {
  if (epochMs === null || epochMs === undefined) return "—";
  return `${new Date(epochMs).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** US dollars: `$0.42`, `$1,234`. */
export function formatUsd(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "—";
  return "$" + fixed(x >= 100 ? 0 : 2).format(x);
}
