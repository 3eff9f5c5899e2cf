/** Money as the API gives it: decimal strings, added and multiplied exactly (no floats). */

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

/** A decimal string as integer cents (bigint); refuses anything but a plain decimal. */
export function toCents(value: string): bigint {
  const match = DECIMAL.exec(value.trim());
  if (!match) throw new Error(`not a decimal amount: ${JSON.stringify(value)}`);
  const [, sign, whole = "0", fraction = ""] = match;
  if (fraction.length > 2 && /[^0]/.test(fraction.slice(2))) {
    throw new Error(`more than two decimals: ${value}`);
  }
  const cents = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
  return sign ? -cents : cents;
}

/** Integer cents back to the API's decimal string ("12000.99"). */
export function fromCents(cents: bigint): string {
  const negative = cents < 0n;
  const abs = negative ? -cents : cents;
  const whole = abs / 100n;
  const fraction = (abs % 100n).toString().padStart(2, "0");
  return `${negative ? "-" : ""}${whole}.${fraction}`;
}

export function sum(values: readonly string[]): string {
  return fromCents(values.reduce((total, v) => total + toCents(v), 0n));
}

export function times(unit: string, quantity: number): string {
  if (!Number.isInteger(quantity)) throw new Error(`not a whole quantity: ${quantity}`);
  return fromCents(toCents(unit) * BigInt(quantity));
}

/** The shop's one currency (orders' ORDERS_CURRENCY); orders also carry theirs. */
export const SHOP_CURRENCY = "EUR";

/** "1234567.5" -> "€1,234,567.50": grouping done on the string, so no float ever rounds. */
export function formatMoney(value: string, currency = SHOP_CURRENCY): string {
  const normalized = fromCents(toCents(value));
  const negative = normalized.startsWith("-");
  const [whole = "0", fraction = "00"] = normalized.replace("-", "").split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const symbol = currency === "USD" ? "$" : currency === "EUR" ? "€" : `${currency} `;
  return `${negative ? "−" : ""}${symbol}${grouped}.${fraction}`;
}
