import { describe, expect, it } from "vitest";
import { REFRESH_MARGIN_MS, Session, type AuthTransport, type SessionEnv } from "./session";

/** A clock and timers under the test's control, and a lock that really serializes. */
function fakeEnv(csrf: { value: string | null }) {
  let now = 0;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  let chain: Promise<unknown> = Promise.resolve();
  const env: SessionEnv = {
    now: () => now,
    setTimer: (fn, ms) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
    readCsrf: () => csrf.value,
    withLock: <T,>(fn: () => Promise<T>) => {
      const run = chain.then(fn);
      chain = run.catch(() => undefined);
      return run;
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of [...timers].sort((a, b) => a.at - b.at)) {
      if (t.at <= now) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
    }
  };
  return { env, advance, timers };
}

function transport(log: string[], answers: { refresh: () => string | null }): AuthTransport {
  return {
    login: async () => {
      log.push("login");
      return { access: "a0", expires_in: 900 };
    },
    refresh: async (csrf) => {
      log.push(`refresh:${csrf}`);
      const access = answers.refresh();
      return access ? { access, expires_in: 900 } : null;
    },
    logout: async (csrf) => {
      log.push(`logout:${csrf}`);
    },
  };
}

const request = () => new Request("http://shop.test/api/users/me/");

describe("Session", () => {
  it("keeps the token in memory and refreshes shortly before it expires", async () => {
    const log: string[] = [];
    let n = 0;
    const { env, advance } = fakeEnv({ value: "csrf1" });
    const session = new Session(transport(log, { refresh: () => `a${++n}` }), env);
    await session.login("ann@example.com", "pw");
    expect(session.token).toBe("a0");
    advance(900_000 - REFRESH_MARGIN_MS - 1);
    expect(log).toEqual(["login"]);
    advance(1);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(["login", "refresh:csrf1"]);
    expect(session.token).toBe("a1");
  });

  it("sends the token, and on a 401 refreshes once and retries once", async () => {
    const log: string[] = [];
    const { env } = fakeEnv({ value: "c" });
    const session = new Session(transport(log, { refresh: () => "fresh" }), env);
    await session.login("a", "b");
    const seen: (string | null)[] = [];
    const send = async (r: Request) => {
      seen.push(r.headers.get("Authorization"));
      return new Response(null, { status: seen.length === 1 ? 401 : 200 });
    };
    const response = await session.fetch(request(), send);
    expect(response.status).toBe(200);
    expect(seen).toEqual(["Bearer a0", "Bearer fresh"]);
    expect(log.filter((l) => l.startsWith("refresh"))).toHaveLength(1);
  });

  it("gives up after one retry and logs out when the refresh is refused", async () => {
    const log: string[] = [];
    const { env } = fakeEnv({ value: "c" });
    const session = new Session(transport(log, { refresh: () => null }), env);
    await session.login("a", "b");
    let calls = 0;
    const response = await session.fetch(request(), async () => {
      calls++;
      return new Response(null, { status: 401 });
    });
    expect(response.status).toBe(401);
    expect(calls).toBe(1);
    expect(session.loggedIn).toBe(false);
  });

  it("tells its listeners when the server ends the login, but not on a logout or a failed restore", async () => {
    const log: string[] = [];
    const { env } = fakeEnv({ value: "c" });
    const session = new Session(transport(log, { refresh: () => null }), env);
    let ended = 0;
    session.onEnded(() => ended++);
    expect(await session.refresh()).toBe(false); // page load without a live cookie
    expect(ended).toBe(0);
    await session.login("a", "b");
    await session.fetch(request(), async () => new Response(null, { status: 401 }));
    expect(ended).toBe(1);
    await session.login("a", "b");
    await session.logout();
    expect(ended).toBe(1);
  });

  it("shares one refresh among concurrent 401s", async () => {
    const log: string[] = [];
    const { env } = fakeEnv({ value: "c" });
    const session = new Session(transport(log, { refresh: () => "fresh" }), env);
    await session.login("a", "b");
    const send = async (r: Request) =>
      new Response(null, { status: r.headers.get("Authorization") === "Bearer fresh" ? 200 : 401 });
    const answers = await Promise.all([1, 2, 3].map(() => session.fetch(request(), send)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(log.filter((l) => l.startsWith("refresh"))).toHaveLength(1);
  });

  it("reads the CSRF cookie inside the lock, after another tab rotated it", async () => {
    const log: string[] = [];
    const csrf = { value: "old" };
    const { env } = fakeEnv(csrf);
    const tabA = new Session(transport(log, { refresh: () => "A" }), env);
    const tabB = new Session(transport(log, { refresh: () => "B" }), env);
    // Tab A holds the lock while its refresh rotates the cookie.
    const realRefresh = env.withLock;
    let rotated = false;
    env.withLock = (fn) =>
      realRefresh(async () => {
        const result = await fn();
        if (!rotated) {
          rotated = true;
          csrf.value = "new";
        }
        return result;
      });
    await Promise.all([tabA.refresh(), tabB.refresh()]);
    expect(log).toEqual(["refresh:old", "refresh:new"]);
  });

  it("does not send a token when logged out and does not retry public reads", async () => {
    const { env } = fakeEnv({ value: null });
    const session = new Session(transport([], { refresh: () => null }), env);
    expect(await session.refresh()).toBe(false);
    let auth: string | null = "unset";
    const response = await session.fetch(request(), async (r) => {
      auth = r.headers.get("Authorization");
      return new Response(null, { status: 401 });
    });
    expect(auth).toBeNull();
    expect(response.status).toBe(401);
  });

  it("logout forgets the token and revokes with the CSRF token", async () => {
    const log: string[] = [];
    const { env, timers } = fakeEnv({ value: "c9" });
    const session = new Session(transport(log, { refresh: () => "x" }), env);
    await session.login("a", "b");
    expect(timers).toHaveLength(1);
    await session.logout();
    expect(session.token).toBeNull();
    expect(timers).toHaveLength(0);
    expect(log).toEqual(["login", "logout:c9"]);
  });
});
