/**
 * The login session of this tab: the access token lives in memory only; the refresh
 * token is an HttpOnly cookie the page never sees (users' cookie mode). The session
 * refreshes silently shortly before the access token expires, and once when an API
 * call answers 401; concurrent callers share one refresh, and tabs take turns through
 * a Web Lock (the server also forgives two tabs racing with one cookie).
 */

export interface TokenAnswer {
  access: string;
  expires_in: number;
}

/** What the session needs from the network (fetch in the app, fakes in unit tests). */
export interface AuthTransport {
  login(email: string, password: string): Promise<TokenAnswer>;
  /** A new access token from the refresh cookie, or null when the login is over. */
  refresh(csrf: string): Promise<TokenAnswer | null>;
  logout(csrf: string): Promise<void>;
}

export interface SessionEnv {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** The readable CSRF cookie (null when there is no refresh cookie either). */
  readCsrf(): string | null;
  /** Runs `fn` while holding a lock shared by every tab of this origin. */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** Refresh this long before expiry (or at 80 % of a short lifetime). */
export const REFRESH_MARGIN_MS = 60_000;

export class Session {
  private access: string | null = null;
  private expiresAt = 0;
  private timer: unknown = null;
  private inflight: Promise<boolean> | null = null;
  private listeners = new Set<() => void>();
  private endedListeners = new Set<() => void>();

  constructor(
    private readonly transport: AuthTransport,
    private readonly env: SessionEnv,
  ) {}

  get token(): string | null {
    return this.access;
  }

  get loggedIn(): boolean {
    return this.access !== null;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called when the server ends this login (a refresh refused while a token was held:
   * the account was deactivated, or the login revoked), not on a logout in this tab.
   */
  onEnded(listener: () => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  async login(email: string, password: string): Promise<void> {
    this.accept(await this.transport.login(email, password));
  }

  async logout(): Promise<void> {
    const csrf = this.env.readCsrf();
    this.clear();
    if (csrf) await this.transport.logout(csrf);
  }

  /** One refresh for every caller at the same moment; true when a token came back. */
  refresh(): Promise<boolean> {
    if (!this.inflight) {
      this.inflight = this.env
        .withLock(async () => {
          // Read the cookie inside the lock: another tab may have just rotated it.
          const csrf = this.env.readCsrf();
          if (!csrf) return null;
          return this.transport.refresh(csrf);
        })
        .then((answer) => {
          const held = this.access !== null;
          if (answer) this.accept(answer);
          else this.clear();
          if (!answer && held) this.endedListeners.forEach((listener) => listener());
          return answer !== null;
        })
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }

  /**
   * fetch with the access token; a 401 refreshes once and retries once. Requests made
   * while logged out go out without a token (public reads).
   */
  async fetch(request: Request, send: (r: Request) => Promise<Response>): Promise<Response> {
    if (this.inflight) await this.inflight;
    const retry = request.clone();
    const hadToken = this.access !== null;
    const response = await send(this.authorize(request));
    if (response.status !== 401 || !hadToken) return response;
    if (!(await this.refresh())) return response;
    return send(this.authorize(retry));
  }

  private authorize(request: Request): Request {
    if (this.access) request.headers.set("Authorization", `Bearer ${this.access}`);
    return request;
  }

  private accept(answer: TokenAnswer): void {
    this.access = answer.access;
    const ttl = answer.expires_in * 1000;
    this.expiresAt = this.env.now() + ttl;
    const lead = Math.min(REFRESH_MARGIN_MS, ttl * 0.2);
    this.schedule(Math.max(1_000, ttl - lead));
    this.emit();
  }

  private clear(): void {
    const was = this.access;
    this.access = null;
    this.expiresAt = 0;
    this.schedule(null);
    if (was !== null) this.emit();
  }

  private schedule(ms: number | null): void {
    if (this.timer !== null) this.env.clearTimer(this.timer);
    this.timer = ms === null ? null : this.env.setTimer(() => void this.refresh(), ms);
  }

  private emit(): void {
    this.listeners.forEach((listener) => listener());
  }

  /** Milliseconds until the access token expires (0 when logged out). */
  remainingMs(): number {
    return Math.max(0, this.expiresAt - this.env.now());
  }
}
