import { describe, expect, it } from "vitest";
import { ApiError } from "./problem";
import { MAX_RETRIES, busyRetryDelay, retryWhileBusy } from "./retry";

const busy = () => new ApiError(503, { status: 503, type: "/problems/busy" }, "1");

describe("busyRetryDelay", () => {
  it("waits out a busy answer's short Retry-After", () => {
    expect(busyRetryDelay(busy())).toBe(1);
    expect(busyRetryDelay(new ApiError(429, { status: 429 }, "2"))).toBe(2);
  });

  it("leaves everything else to the shopper", () => {
    expect(busyRetryDelay(new ApiError(503, { status: 503 }))).toBeNull(); // no Retry-After
    expect(busyRetryDelay(new ApiError(503, { status: 503 }, "60"))).toBeNull(); // too long
    expect(busyRetryDelay(new ApiError(503, { status: 503 }, "soon"))).toBeNull();
    expect(busyRetryDelay(new ApiError(504, { status: 504 }, "1"))).toBeNull(); // answer lost
    expect(busyRetryDelay(new ApiError(409, { status: 409 }, "1"))).toBeNull();
    expect(busyRetryDelay(new TypeError("Failed to fetch"))).toBeNull();
  });
});

describe("retryWhileBusy", () => {
  it("sends the same request again after each busy answer, then answers its result", async () => {
    const waits: number[] = [];
    let sent = 0;
    const result = await retryWhileBusy(
      async () => {
        sent += 1;
        if (sent < 3) throw busy();
        return "placed";
      },
      async (seconds) => {
        waits.push(seconds);
      },
    );
    expect(result).toBe("placed");
    expect(sent).toBe(3);
    expect(waits).toEqual([1, 1]);
  });

  it("gives up after MAX_RETRIES and shows the last answer", async () => {
    let sent = 0;
    const last = busy();
    const attempt = retryWhileBusy(
      async () => {
        sent += 1;
        throw last;
      },
      async () => {},
    );
    await expect(attempt).rejects.toBe(last);
    expect(sent).toBe(MAX_RETRIES + 1);
  });

  it("does not send a refused request again", async () => {
    let sent = 0;
    const refused = new ApiError(422, { status: 422 });
    const attempt = retryWhileBusy(
      async () => {
        sent += 1;
        throw refused;
      },
      async () => {},
    );
    await expect(attempt).rejects.toBe(refused);
    expect(sent).toBe(1);
  });
});
