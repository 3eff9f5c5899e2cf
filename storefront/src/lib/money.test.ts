import { describe, expect, it } from "vitest";
import { formatMoney, fromCents, sum, times, toCents } from "./money";

describe("money", () => {
  it("parses decimal strings exactly", () => {
    expect(toCents("12000.99")).toBe(1200099n);
    expect(toCents("0.1")).toBe(10n);
    expect(toCents("7")).toBe(700n);
    expect(toCents("-3.50")).toBe(-350n);
    expect(toCents("1.230")).toBe(123n);
  });

  it("refuses what is not a plain decimal", () => {
    for (const bad of ["", "1e3", "abc", "1.234", "1,00", "NaN"]) {
      expect(() => toCents(bad)).toThrow();
    }
  });

  it("adds without float drift", () => {
    // 0.1 + 0.2 is 0.30000000000000004 in floats.
    expect(sum(["0.10", "0.20"])).toBe("0.30");
    expect(sum(Array(10).fill("0.10"))).toBe("1.00");
    expect(sum(["19999999999.99", "0.01"])).toBe("20000000000.00");
    expect(sum([])).toBe("0.00");
  });

  it("multiplies by whole quantities", () => {
    expect(times("19.99", 3)).toBe("59.97");
    expect(times("0.01", 0)).toBe("0.00");
    expect(() => times("1.00", 1.5)).toThrow();
  });

  it("formats with grouping and two decimals", () => {
    expect(formatMoney("1234567.5")).toBe("€1,234,567.50");
    expect(formatMoney("0")).toBe("€0.00");
    expect(formatMoney("999.99")).toBe("€999.99");
    expect(formatMoney("-5.25")).toBe("−€5.25");
    expect(formatMoney("10", "USD")).toBe("$10.00");
    expect(formatMoney("10", "CHF")).toBe("CHF 10.00");
    expect(fromCents(5n)).toBe("0.05");
  });
});
