/** The API client generated from the gateway's merged OpenAPI document (schema.d.ts). */

import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { ApiError, type Problem } from "../lib/problem";
import { Session, type AuthTransport, type TokenAnswer } from "./session";

export type Schemas = components["schemas"];
export type Product = Schemas["catalog.ProductOut"];
export type CategoryNode = Schemas["catalog.CategoryNode"];
export type Cart = Schemas["orders.CartOut"];
export type Order = Schemas["orders.OrderOut"];
export type OrderStatus = Schemas["orders.OrderStatus"];
export type Payment = Schemas["payments.PaymentOut"];
export type Review = Schemas["catalog.ReviewOut"];
export type User = Schemas["users.UserOut"];
export type Wishlist = Schemas["orders.WishlistOut"];

const COOKIE_MODE = { "X-Token-Transport": "cookie" } as const;
const origin = typeof window === "undefined" ? "http://localhost" : window.location.origin;

async function problemOf(response: Response): Promise<Problem> {
  try {
    return (await response.json()) as Problem;
  } catch {
    return { status: response.status };
  }
}

/** The auth endpoints in cookie mode, through the same generated types. */
const auth = createClient<paths>({ baseUrl: origin, credentials: "same-origin" });

const transport: AuthTransport = {
  async login(email, password) {
    const { data, error, response } = await auth.POST("/api/auth/login/", {
      body: { email, password },
      params: { header: COOKIE_MODE },
    });
    if (error || !data) throw new ApiError(response.status, error as Problem);
    return data as TokenAnswer;
  },
  async refresh(csrf) {
    const { data, response } = await auth.POST("/api/auth/refresh/", {
      params: { header: { ...COOKIE_MODE, "X-CSRF-Token": csrf } },
    });
    if (response.status === 401 || response.status === 403) return null;
    if (!data) throw new ApiError(response.status, await problemOf(response));
    return data as TokenAnswer;
  },
  async logout(csrf) {
    await auth.POST("/api/auth/logout/", {
      params: { header: { ...COOKIE_MODE, "X-CSRF-Token": csrf } },
    });
  },
};

function readCsrf(): string | null {
  const match = /(?:^|;\s*)shop_csrf=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]!) : null;
}

export const session = new Session(transport, {
  now: () => Date.now(),
  setTimer: (fn, ms) => window.setTimeout(fn, ms),
  clearTimer: (handle) => window.clearTimeout(handle as number),
  readCsrf,
  withLock: (fn) =>
    navigator.locks ? (navigator.locks.request("shop-refresh", fn) as Promise<never>) : fn(),
});

export const api = createClient<paths>({
  baseUrl: origin,
  credentials: "same-origin",
  fetch: (request: Request) => session.fetch(request, (r) => globalThis.fetch(r)),
});

/**
 * Public catalog reads without token or cookies: an answer to a request with credentials
 * is `no-store` (shared NoStoreMiddleware), so only these let the browser's HTTP cache
 * keep the catalog's `public, max-age=1` answer and revalidate it with If-None-Match.
 */
export const publicApi = createClient<paths>({ baseUrl: origin, credentials: "omit" });

type Result<D> = { data?: D; error?: unknown; response: Response };

/** The answer's data, or an ApiError whose message is the problem in words. */
export async function must<D>(call: Promise<Result<D>>): Promise<NonNullable<D>> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined || data === null) {
    const problem = (error as Problem | undefined) ?? { status: response.status };
    throw new ApiError(response.status, problem, response.headers.get("Retry-After"));
  }
  return data as NonNullable<D>;
}

/** For answers without a body (204). */
export async function mustOk(call: Promise<Result<unknown>>): Promise<void> {
  const { error, response } = await call;
  if (!response.ok) throw new ApiError(response.status, (error as Problem | undefined) ?? {});
}
