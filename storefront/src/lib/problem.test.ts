import { describe, expect, it } from "vitest";
import { ApiError, sameAttempt } from "./problem";

describe("sameAttempt", () => {
  it("keeps the Idempotency-Key when the answer may have been lost", () => {
    expect(sameAttempt(new TypeError("Failed to fetch"))).toBe(true);
    for (const status of [500, 502, 503, 504]) {
      expect(sameAttempt(new ApiError(status, { status }))).toBe(true);
    }
  });

  it("keeps it when the shop asks for the same request again later", () => {
    expect(sameAttempt(new ApiError(429, { status: 429 }, "1"))).toBe(true);
    // The first request with the key is still running.
    expect(sameAttempt(new ApiError(409, { status: 409 }, "1"))).toBe(true);
  });

  it("starts a new attempt after a refusal", () => {
    for (const status of [400, 401, 403, 404, 409, 422]) {
      expect(sameAttempt(new ApiError(status, { status }))).toBe(false);
    }
    expect(sameAttempt(new Error("not an answer"))).toBe(false);
  });
});
